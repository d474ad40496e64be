"use strict";
// The design studio (#studio-app) and the gallery (#gallery-app). No inline scripts (CSP); every string is
// translated through the JavaScript catalog; every text from the server is set with textContent.
(function () {
  const api = window.exaone.api;
  const announce = window.exaone.announce;
  const HANGUL = /[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]/;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }
  function button(label, cls, onClick, extra) {
    const b = el("button", cls, label);
    b.type = "button";
    b.addEventListener("click", onClick);
    if (extra) Object.keys(extra).forEach(function (k) { b.setAttribute(k, extra[k]); });
    return b;
  }
  function seconds(s) {
    return s === null || s === undefined ? "…" : interpolate(gettext("%(s)s s"), { s: Number(s).toFixed(1) }, true);
  }

  // ---- image cards (both pages) -------------------------------------------------------------------

  function imageCard(image, actions) {
    const card = el("figure", "image-card" + (image.flagged ? " flagged" : ""));
    card.dataset.imageId = image.id;
    const frame = el("div", "frame");
    const img = el("img");
    img.src = image.url;
    img.alt = image.metadata && image.metadata.prompt ? image.metadata.prompt : gettext("Generated image");
    img.loading = "lazy";
    frame.append(img);
    if (image.flagged) frame.append(el("span", "flag-reason", image.flag_reason || gettext("Hidden by the safety check")));
    card.append(frame);
    const meta = el("figcaption", "meta");
    meta.append(el("div", "", (image.metadata && image.metadata.brief) || ""));
    meta.append(el("div", "", interpolate(gettext("Seed %(seed)s"), { seed: image.seed }, true)));
    card.append(meta);
    const bar = el("div", "actions");
    actions(image, card).forEach(function (node) { bar.append(node); });
    card.append(bar);
    return card;
  }

  function starButton(image) {
    const b = button(image.starred ? "★ " + gettext("Starred") : "☆ " + gettext("Star"), "secondary small", async function () {
      try {
        const updated = await api("PATCH", "/studio/api/images/" + image.id + "/", { starred: !image.starred });
        image.starred = updated.starred;
        b.textContent = image.starred ? "★ " + gettext("Starred") : "☆ " + gettext("Star");
        b.setAttribute("aria-pressed", String(image.starred));
        announce(image.starred ? gettext("Starred") : gettext("Star removed"));
      } catch (err) { announce(err.message); }
    }, { "aria-pressed": String(!!image.starred), "data-action": "star" });
    return b;
  }

  function downloadLink(image) {
    const a = el("a", "button secondary small", gettext("Download"));
    a.href = image.download_url;
    return a;
  }

  // Refine and print (issue 11): variations, inpainting, upscaling, captions, print export of one image.
  function refineLink(image) {
    const a = el("a", "button secondary small", gettext("Refine / print"));
    a.href = "/studio/refine/" + image.id + "/";
    a.dataset.action = "refine";
    return a;
  }

  function deleteButton(image, card) {
    return button(gettext("Delete"), "danger small", async function () {
      if (!window.confirm(gettext("Delete this image for good?"))) return;
      try {
        await api("DELETE", "/studio/api/images/" + image.id + "/");
        card.remove();
        announce(gettext("Image deleted"));
      } catch (err) { announce(err.message); }
    });
  }

  // ---- the studio page ------------------------------------------------------------------------------

  function studioPage(app) {
    const form = document.getElementById("studio-form");
    const field = function (id) { return document.getElementById(id); };
    const errorBox = field("form-error");
    const jobs = field("jobs");
    const results = field("results");
    const cards = {};
    let socket = null;
    let retry = 500;
    // "Use as brief" on the refine page links here with ?brief=<caption>.
    const sentBrief = new URLSearchParams(location.search).get("brief");
    if (sentBrief) field("brief").value = sentBrief.slice(0, Number(field("brief").maxLength) || 1000);

    function showError(text) {
      errorBox.textContent = text || "";
      errorBox.hidden = !text;
      if (text) announce(text);
    }

    function seedMode() { return form.querySelector("input[name=seed-mode]:checked").value; }
    function setSeedMode(mode) {
      form.querySelector("input[name=seed-mode][value=" + mode + "]").checked = true;
      field("seed").disabled = mode !== "fixed";
    }
    form.querySelectorAll("input[name=seed-mode]").forEach(function (r) {
      r.addEventListener("change", function () { setSeedMode(seedMode()); });
    });
    field("copy-seed").addEventListener("click", async function () {
      const value = field("seed").value;
      if (!value) { announce(gettext("No seed yet: generate an image or fix one first.")); return; }
      try { await navigator.clipboard.writeText(value); announce(gettext("Seed copied")); }
      catch (err) { field("seed").select(); announce(gettext("Select the seed and copy it.")); }
    });

    function applySize(width, height) {
      const select = field("size");
      for (const option of select.options) {
        if (Number(option.dataset.width) === Number(width) && Number(option.dataset.height) === Number(height)) {
          select.value = option.value; return true;
        }
      }
      return false;
    }
    let customSize = null;
    field("size").addEventListener("change", function () { customSize = null; });
    field("preset").addEventListener("change", function () {
      const option = field("preset").selectedOptions[0];
      if (option && option.dataset.width) {
        applySize(option.dataset.width, option.dataset.height);
        field("steps").value = option.dataset.steps;
      }
    });

    // The tiny demo model draws at 64 px on a CPU: start it small and quick; real models start at 512.
    function modelDefaults() {
      const option = field("model").selectedOptions[0];
      const demo = option && option.dataset.demo === "1";
      field("size").value = demo ? "draft" : "square";
      field("steps").value = demo ? 8 : 25;
      customSize = null;
    }
    field("model").addEventListener("change", modelDefaults);
    modelDefaults();

    function values() {
      const size = customSize || field("size").selectedOptions[0].dataset;
      return {
        brief: field("brief").value,
        prompt: field("prompt").value,
        negative: field("negative").value,
        model: field("model").value,
        preset: field("preset").value,
        width: Number(size.width),
        height: Number(size.height),
        steps: field("steps").value,
        guidance: field("guidance").value,
        count: field("count").value,
        seed: seedMode() === "fixed" ? field("seed").value : null,
      };
    }

    function fill(meta) {
      ["brief", "prompt", "negative"].forEach(function (name) { field(name).value = meta[name] || ""; });
      if (meta.model) field("model").value = meta.model;
      field("preset").value = meta.preset || "";
      if (meta.steps) field("steps").value = meta.steps;
      if (meta.guidance !== "" && meta.guidance !== undefined) field("guidance").value = meta.guidance;
      customSize = applySize(meta.width, meta.height) ? null : { width: meta.width, height: meta.height };
      if (meta.seed !== "" && meta.seed !== undefined) { field("seed").value = meta.seed; setSeedMode("fixed"); }
      field("count").value = 1;
      announce(gettext("The form holds the image's settings."));
      field("brief").focus();
    }

    // Rewrite: a Korean brief becomes an English prompt through the text model (a job on the text queue).
    async function rewrite() {
      const status = field("rewrite-status");
      status.textContent = gettext("Rewriting the brief…");
      const started = await api("POST", app.dataset.rewritesUrl, { brief: field("brief").value, model: field("model").value });
      let result = started;
      while (result.job && !result.prompt) {
        await new Promise(function (resolve) { setTimeout(resolve, 700); });
        const polled = await api("GET", app.dataset.rewritesUrl + started.job + "/");
        if (["succeeded", "failed", "cancelled"].includes(polled.status)) result = polled;
      }
      field("prompt").value = result.prompt;
      status.textContent = result.note || gettext("English prompt written; edit it if you like.");
      announce(status.textContent);
      return result.prompt;
    }
    field("rewrite-button").addEventListener("click", async function () {
      showError("");
      try { await rewrite(); } catch (err) { field("rewrite-status").textContent = ""; showError(err.message); }
    });

    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      showError("");
      const go = field("generate-button");
      go.disabled = true;
      try {
        if (!field("prompt").value.trim() && HANGUL.test(field("brief").value)) await rewrite();
        const generation = await api("POST", app.dataset.generationsUrl, values());
        field("seed").value = generation.seed;
        jobCard(generation);
        announce(gettext("Queued"));
        pollWhileQueued(generation.id);
      } catch (err) {
        showError(err.message);
      } finally {
        go.disabled = false;
      }
    });

    // Recall from an uploaded PNG: the same code path for the button, a drop and a paste.
    async function recallFile(files) {
      const file = files[0];
      if (!file) return;
      showError("");
      const body = new FormData();
      body.append("file", file);
      const response = await fetch(app.dataset.recallUrl, {
        method: "POST", credentials: "same-origin", body: body, headers: { "X-CSRFToken": window.exaone.csrfToken() },
      });
      const data = await response.json().catch(function () { return null; });
      if (!response.ok) { showError((data && data.detail) || response.statusText); return; }
      fill(data);
    }
    field("recall-button").addEventListener("click", function () { field("recall-file").click(); });
    field("recall-file").addEventListener("change", function () {
      recallFile(Array.from(field("recall-file").files));
      field("recall-file").value = "";
    });
    window.exaone.fileDropZone(field("recall-zone"), { onFiles: recallFile, pasteTarget: form });

    // Job cards: where each generation is (queued with its position, running with its step), then its images.
    function jobCard(generation) {
      let card = cards[generation.id];
      if (!card) {
        const node = el("div", "job-card");
        node.dataset.generationId = generation.id;
        const preview = el("img", "preview");
        preview.alt = gettext("Preview of the image being made");
        preview.hidden = true;
        const info = el("div", "job-info");
        const title = el("div", "", generation.prompt || generation.brief);
        const status = el("div", "muted small-text");
        status.setAttribute("data-status", "");
        const bar = el("progress");
        bar.max = generation.steps; bar.value = 0;
        bar.setAttribute("aria-label", gettext("Progress"));
        info.append(title, status, bar);
        const cancel = button(gettext("Cancel"), "secondary small", function () { cancelGeneration(generation.id); });
        node.append(preview, info, cancel);
        jobs.prepend(node);
        card = cards[generation.id] = { node: node, preview: preview, status: status, bar: bar, cancel: cancel, seq: 0 };
      }
      setStatus(card, generation);
      return card;
    }

    function setStatus(card, g) {
      if (g.status === "queued") {
        card.status.textContent = g.queue_position === null || g.queue_position === undefined
          ? gettext("Waiting in the queue…")
          : interpolate(gettext("Waiting: %(n)s ahead, about %(s)s"), { n: g.queue_position, s: seconds(g.wait_s) }, true);
      } else if (g.status === "running") {
        card.status.textContent = gettext("Starting…");
      } else if (g.status === "done") {
        card.node.remove(); delete cards[g.id];
      } else {
        card.status.textContent = g.status === "cancelled" ? gettext("Cancelled") : (g.error || gettext("Failed"));
        card.status.classList.toggle("error-text", g.status === "failed");
        card.cancel.hidden = true;
        card.bar.hidden = true;
      }
    }

    function progress(card, event) {
      if (event.seq !== undefined && event.seq <= card.seq) return;
      if (event.seq !== undefined) card.seq = event.seq;
      if (event.total) card.bar.max = event.total;
      if (event.step !== undefined) card.bar.value = event.step;
      if (event.step !== undefined && event.total) {
        card.status.textContent = interpolate(gettext("Step %(i)s of %(n)s · %(elapsed)s elapsed · about %(eta)s left"),
          { i: event.step, n: event.total, elapsed: seconds(event.elapsed_s), eta: seconds(event.eta_s) }, true);
      }
      if (event.preview) { card.preview.src = event.preview; card.preview.hidden = false; }
    }

    async function pollWhileQueued(id) {
      while (cards[id]) {
        await new Promise(function (resolve) { setTimeout(resolve, 2000); });
        if (!cards[id] || cards[id].seq > 0) return;
        try {
          const g = await api("GET", app.dataset.generationsUrl + id + "/");
          if (g.status !== "queued") return;
          setStatus(cards[id], g);
        } catch (err) { return; }
      }
    }

    function cancelGeneration(id) {
      if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "generation.cancel", generation_id: id }));
      else api("POST", app.dataset.generationsUrl + id + "/cancel/").catch(function (err) { showError(err.message); });
    }

    function showImages(generation) {
      generation.images.slice().reverse().forEach(function (image) {
        if (results.querySelector("[data-image-id='" + image.id + "']")) return;
        results.prepend(imageCard(image, function (img, card) {
          return [
            starButton(img),
            button(gettext("Recall"), "secondary small", function () { fill(img.metadata); }, { "data-action": "recall" }),
            downloadLink(img),
            refineLink(img),
            deleteButton(img, card),
          ];
        }));
      });
    }

    function onEvent(event) {
      if (event.type === "generation.snapshot") {
        const card = jobCard(event.generation);
        card.seq = 0;
        progress(card, event);
      } else if (event.type === "generation.started") {
        const card = cards[event.generation_id];
        if (card) card.status.textContent = gettext("Starting…");
        announce(gettext("Generating…"));
      } else if (event.type === "generation.progress") {
        const card = cards[event.generation_id];
        if (card) progress(card, event);
      } else if (event.type === "generation.done") {
        const g = event.generation;
        const card = cards[g.id] || jobCard(g);
        setStatus(card, g);
        if (g.status === "done") {
          showImages(g);
          announce(interpolate(gettext("%(n)s images ready"), { n: g.images.length }, true));
        } else {
          announce(g.status === "cancelled" ? gettext("Cancelled") : gettext("Failed"));
        }
      } else if (event.type === "rewrite.done") {
        // The page polls the rewrite as well; the socket only makes it quicker.
      } else if (event.type === "error") {
        showError(event.message);
      }
    }

    function connect() {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + location.host + "/ws/studio/");
      socket.addEventListener("open", function () { retry = 500; });
      socket.addEventListener("message", function (msg) {
        try { onEvent(JSON.parse(msg.data)); } catch (err) { /* a malformed event is ignored */ }
      });
      socket.addEventListener("close", function (ev) {
        if (ev.code === 4401) return;
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 10000);
      });
    }

    api("GET", app.dataset.generationsUrl).then(function (data) {
      data.results.slice().reverse().forEach(function (g) { if (g.status === "done") showImages(g); });
    }).catch(function () {});
    connect();
  }

  // ---- the gallery ----------------------------------------------------------------------------------

  function galleryPage(app) {
    const grid = document.getElementById("gallery-grid");
    const filters = document.getElementById("gallery-filters");
    const boardList = document.getElementById("board-list");
    const status = document.getElementById("gallery-status");
    let boards = [];

    function currentBoard() { return boards.find(function (b) { return String(b.id) === filters.board.value; }); }

    async function load() {
      const params = new URLSearchParams();
      ["board", "model", "q", "from", "to"].forEach(function (name) { if (filters[name].value) params.set(name, filters[name].value); });
      if (filters.starred.checked) params.set("starred", "1");
      try {
        const data = await api("GET", app.dataset.imagesUrl + "?" + params.toString());
        grid.replaceChildren();
        const board = currentBoard();
        data.results.forEach(function (image) {
          grid.append(imageCard(image, function (img, card) {
            if (!img.own) return [downloadLink(img)];
            const nodes = [starButton(img), downloadLink(img), refineLink(img)];
            const own = boards.filter(function (b) { return b.own; });
            if (own.length) {
              const select = el("select", "small-select");
              select.setAttribute("aria-label", gettext("Add to board"));
              select.append(new Option(gettext("Add to board…"), ""));
              own.forEach(function (b) { select.append(new Option(b.name, b.id)); });
              select.addEventListener("change", async function () {
                if (!select.value) return;
                try { await api("PUT", "/studio/api/boards/" + select.value + "/images/" + img.id + "/"); announce(gettext("Added to the board")); }
                catch (err) { announce(err.message); }
                select.value = "";
              });
              nodes.push(select);
            }
            if (board && board.own) {
              nodes.push(button(gettext("Remove from board"), "secondary small", async function () {
                await api("DELETE", "/studio/api/boards/" + board.id + "/images/" + img.id + "/");
                card.remove();
              }));
            }
            nodes.push(deleteButton(img, card));
            return nodes;
          }));
        });
        status.textContent = interpolate(gettext("%(n)s images"), { n: data.results.length }, true);
      } catch (err) { status.textContent = err.message; }
    }

    async function loadBoards() {
      const data = await api("GET", "/studio/api/boards/");
      boards = data.results;
      const keep = filters.board.value;
      filters.board.replaceChildren(new Option(gettext("All my images"), ""));
      boardList.replaceChildren();
      boards.forEach(function (b) {
        filters.board.append(new Option(b.own ? b.name : interpolate(gettext("%(name)s (shared with you)"), { name: b.name }, true), b.id));
        const item = el("li");
        item.append(el("span", "", b.own ? b.name : interpolate(gettext("%(name)s (shared with you)"), { name: b.name }, true)));
        if (b.own) {
          const share = el("select", "small-select");
          share.setAttribute("aria-label", interpolate(gettext("Share %(name)s read-only with a group"), { name: b.name }, true));
          share.append(new Option(gettext("Not shared"), ""));
          Array.from(document.querySelectorAll("#group-options option")).forEach(function (o) {
            share.append(new Option(interpolate(gettext("Shared with %(group)s"), { group: o.textContent }, true), o.value));
          });
          share.value = b.groups.length ? String(b.groups[0]) : "";
          share.addEventListener("change", async function () {
            try {
              await api("PATCH", "/studio/api/boards/" + b.id + "/", { groups: share.value ? [Number(share.value)] : [] });
              announce(share.value ? gettext("Shared read-only") : gettext("No longer shared"));
            } catch (err) { announce(err.message); }
          });
          item.append(share);
          item.append(button(gettext("Delete"), "danger small", async function () {
            if (!window.confirm(gettext("Delete this board? Its images stay in your gallery."))) return;
            await api("DELETE", "/studio/api/boards/" + b.id + "/");
            await loadBoards(); load();
          }));
        }
        boardList.append(item);
      });
      filters.board.value = keep;
    }

    document.getElementById("board-form").addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const input = document.getElementById("board-name");
      try {
        await api("POST", "/studio/api/boards/", { name: input.value });
        input.value = "";
        await loadBoards();
        await load();
        announce(gettext("Board created"));
      } catch (err) { announce(err.message); status.textContent = err.message; }
    });
    filters.addEventListener("submit", function (ev) { ev.preventDefault(); load(); });
    filters.board.addEventListener("change", load);
    loadBoards().then(load).catch(function (err) { status.textContent = err.message; });
  }

  const studio = document.getElementById("studio-app");
  if (studio) studioPage(studio);
  const gallery = document.getElementById("gallery-app");
  if (gallery) galleryPage(gallery);
})();
