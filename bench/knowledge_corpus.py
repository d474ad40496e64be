"""A generated bilingual question set for the knowledge benchmark: each topic has an answering passage and a
hard negative (same subject, other facts) in English and in Korean, and a question in each language."""

from __future__ import annotations

#: (answer EN, answer KO, hard negative EN, hard negative KO, question EN, question KO)
TOPICS = [
    (
        "The cooling pump must be flushed with clean water every week to prevent scale.",
        "냉각 펌프는 스케일을 막기 위해 매주 깨끗한 물로 세척해야 한다.",
        "The cooling pump seal is replaced once a year by the maintenance team.",
        "냉각 펌프의 씰은 정비팀이 1년에 한 번 교체한다.",
        "How often should the cooling pump be flushed?",
        "냉각 펌프는 얼마나 자주 세척해야 하나요?",
    ),
    (
        "Tighten the M8 flange bolts to a torque of 25 Nm in a star pattern.",
        "M8 플랜지 볼트는 별 모양 순서로 25 Nm 토크로 조인다.",
        "Flange gaskets must be inspected for cracks before assembly.",
        "플랜지 개스킷은 조립 전에 균열이 있는지 검사해야 한다.",
        "What torque is used for the M8 flange bolts?",
        "M8 플랜지 볼트의 체결 토크는 얼마인가요?",
    ),
    (
        "Lithium battery packs must be stored between 15 and 25 degrees Celsius at 40 percent charge.",
        "리튬 배터리 팩은 섭씨 15도에서 25도 사이, 충전율 40퍼센트로 보관해야 한다.",
        "Damaged lithium battery packs are shipped only in fireproof containers.",
        "손상된 리튬 배터리 팩은 방화 용기에 넣어서만 운송한다.",
        "At what temperature should lithium battery packs be stored?",
        "리튬 배터리 팩은 몇 도에서 보관해야 하나요?",
    ),
    (
        "Welders must wear a shade 10 filter helmet and leather gloves during arc welding.",
        "아크 용접 중에는 차광도 10 필터 헬멧과 가죽 장갑을 착용해야 한다.",
        "Arc welding machines are grounded before every shift.",
        "아크 용접기는 매 교대 전에 접지한다.",
        "What protective equipment is required for arc welding?",
        "아크 용접 때 어떤 보호구를 착용해야 하나요?",
    ),
    (
        "The 5G antenna tilt is adjusted remotely from the network management console.",
        "5G 안테나의 틸트는 네트워크 관리 콘솔에서 원격으로 조정한다.",
        "The 5G antenna mast is inspected by climbers twice a year.",
        "5G 안테나 철탑은 1년에 두 번 작업자가 올라가 점검한다.",
        "How is the tilt of the 5G antenna adjusted?",
        "5G 안테나 틸트는 어떻게 조정하나요?",
    ),
    (
        "The platinum catalyst loses activity above 600 degrees and must be regenerated with hydrogen.",
        "백금 촉매는 600도 이상에서 활성을 잃으며 수소로 재생해야 한다.",
        "The platinum catalyst is delivered in sealed drums of 20 kilograms.",
        "백금 촉매는 20킬로그램 밀봉 드럼으로 납품된다.",
        "When does the platinum catalyst lose its activity?",
        "백금 촉매는 언제 활성을 잃나요?",
    ),
    (
        "Patients on warfarin must have their INR checked every four weeks.",
        "와파린을 복용하는 환자는 4주마다 INR 검사를 받아야 한다.",
        "Warfarin tablets are stored away from light in the pharmacy.",
        "와파린 정제는 약국에서 빛을 피해 보관한다.",
        "How often is INR checked for patients taking warfarin?",
        "와파린 복용 환자는 INR 검사를 얼마나 자주 받나요?",
    ),
    (
        "The conveyor belt stops automatically when the emergency pull cord is pulled.",
        "비상 당김줄을 당기면 컨베이어 벨트가 자동으로 멈춘다.",
        "The conveyor belt is cleaned with a dry brush at the end of each day.",
        "컨베이어 벨트는 매일 작업이 끝나면 마른 솔로 청소한다.",
        "What stops the conveyor belt in an emergency?",
        "비상시 컨베이어 벨트는 어떻게 멈추나요?",
    ),
    (
        "Hydraulic oil is replaced after 2000 operating hours or when it turns dark.",
        "유압유는 2000 운전 시간이 지나거나 색이 어두워지면 교체한다.",
        "Hydraulic hoses are pressure tested at 1.5 times the working pressure.",
        "유압 호스는 사용 압력의 1.5배로 압력 시험을 한다.",
        "When should the hydraulic oil be replaced?",
        "유압유는 언제 교체해야 하나요?",
    ),
    (
        "Fiber optic cables must not be bent tighter than ten times their diameter.",
        "광섬유 케이블은 지름의 열 배보다 작게 구부리면 안 된다.",
        "Fiber optic connectors are cleaned with lint-free wipes and alcohol.",
        "광섬유 커넥터는 보풀 없는 천과 알코올로 닦는다.",
        "How tightly may fiber optic cables be bent?",
        "광섬유 케이블은 얼마나 구부릴 수 있나요?",
    ),
    (
        "Solvent vapors in the paint booth are extracted by a fan running at 3000 cubic meters per hour.",
        "도장 부스의 용제 증기는 시간당 3000 세제곱미터로 도는 팬이 배출한다.",
        "Paint booth filters are changed when the pressure gauge shows red.",
        "도장 부스 필터는 압력계가 빨간색을 가리키면 교체한다.",
        "How are solvent vapors removed from the paint booth?",
        "도장 부스의 용제 증기는 어떻게 제거하나요?",
    ),
    (
        "Forklift drivers must renew their license every three years.",
        "지게차 운전자는 3년마다 면허를 갱신해야 한다.",
        "Forklift forks are checked for cracks every month.",
        "지게차 포크는 매달 균열 여부를 점검한다.",
        "How often must forklift drivers renew their license?",
        "지게차 운전자는 면허를 얼마나 자주 갱신하나요?",
    ),
]
