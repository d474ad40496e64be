"""A small bilingual corpus with questions in both languages, shared by the retrieval tests and bench/."""

from __future__ import annotations

#: (topic, English passage, Korean passage, English question, Korean question)
TOPICS = [
    (
        "pump",
        "The cooling pump must be flushed with clean water every week to prevent scale.",
        "냉각 펌프는 스케일을 막기 위해 매주 깨끗한 물로 세척해야 한다.",
        "How often should the cooling pump be flushed?",
        "냉각 펌프는 얼마나 자주 세척해야 하나요?",
    ),
    (
        "torque",
        "Tighten the M8 flange bolts to a torque of 25 Nm in a star pattern.",
        "M8 플랜지 볼트는 별 모양 순서로 25 Nm 토크로 조인다.",
        "What torque is used for the M8 flange bolts?",
        "M8 플랜지 볼트의 체결 토크는 얼마인가요?",
    ),
    (
        "battery",
        "Lithium battery packs must be stored between 15 and 25 degrees Celsius at 40 percent charge.",
        "리튬 배터리 팩은 섭씨 15도에서 25도 사이, 충전율 40퍼센트로 보관해야 한다.",
        "At what temperature should lithium battery packs be stored?",
        "리튬 배터리 팩은 몇 도에서 보관해야 하나요?",
    ),
    (
        "welding",
        "Welders must wear a shade 10 filter helmet and leather gloves during arc welding.",
        "아크 용접 중에는 차광도 10 필터 헬멧과 가죽 장갑을 착용해야 한다.",
        "What protective equipment is required for arc welding?",
        "아크 용접 때 어떤 보호구를 착용해야 하나요?",
    ),
    (
        "antenna",
        "The 5G antenna tilt is adjusted remotely from the network management console.",
        "5G 안테나의 틸트는 네트워크 관리 콘솔에서 원격으로 조정한다.",
        "How is the tilt of the 5G antenna adjusted?",
        "5G 안테나 틸트는 어떻게 조정하나요?",
    ),
    (
        "catalyst",
        "The platinum catalyst loses activity above 600 degrees and must be regenerated with hydrogen.",
        "백금 촉매는 600도 이상에서 활성을 잃으며 수소로 재생해야 한다.",
        "When does the platinum catalyst lose its activity?",
        "백금 촉매는 언제 활성을 잃나요?",
    ),
]
