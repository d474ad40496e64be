"use strict";
// The refine page: a mask canvas (brush, eraser, size, undo/redo, zoom) for inpainting, outpainting,
// variations, upscaling, image to text and the print export. Every action is a job: POST, then poll its
// URL until it ends. No inline scripts (CSP); every string goes through the JS translation catalog.
(function () {
  const app = document.getElementById("refine-app");
  if (!app) return;
  const $ = function (id) { return document.getElementById(id); };
  const ex = window.exaone;
  const POLL_MS = 700;
  const ZOOMS = [0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4];
  const HISTORY = 30;

  const errorBox = $("refine-error");
  const statusBox = $("job-status");
  const results = $("refine-results");

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
    if (message) ex.announce(message);
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ---------------------------------------------------------------------------------------- jobs

  function describeProgress(job) {
    const p = job.progress || {};
    if (job.status === "queued") {
      if (job.queue_position) return interpolate(gettext("Waiting: number %(n)s in the queue."), { n: job.queue_position }, true);
      return gettext("Waiting for a worker…");
    }
    if (job.status === "running") {
      if (p.step && p.total) return interpolate(gettext("Step %(i)s of %(n)s"), { i: p.step, n: p.total }, true);
      return gettext("Working…");
    }
    if (job.status === "succeeded") return gettext("Done.");
    if (job.status === "cancelled") return gettext("Cancelled.");
    return job.error || gettext("It failed. Try again.");
  }

  async function runJob(url, body, onDone) {
    showError("");
    let job;
    try {
      job = await ex.api("POST", url, body);
    } catch (err) {
      showError(err.message);
      return;
    }
    const line = el("p", { "class": "job-line" });
    const text = el("span", {}, describeProgress(job));
    const cancel = el("button", { type: "button", "class": "secondary small" }, gettext("Cancel"));
    cancel.addEventListener("click", function () { ex.api("POST", job.url + "cancel/").catch(function () {}); });
    line.append(text, " ", cancel);
    statusBox.prepend(line);
    ex.announce(gettext("Started."));
    while (job.status === "queued" || job.status === "running") {
      await new Promise(function (resolve) { setTimeout(resolve, POLL_MS); });
      try {
        job = await ex.api("GET", job.url);
      } catch (err) {
        text.textContent = err.message;
        return;
      }
      text.textContent = describeProgress(job);
    }
    cancel.remove();
    ex.announce(describeProgress(job));
    if (job.status === "succeeded") onDone(job);
    else if (job.status === "failed") showError(job.error || gettext("It failed. Try again."));
  }

  function upscaledBy(meta) {
    if (meta.method === "lanczos") return gettext("Lanczos resampler");
    return interpolate(gettext("upscaling model %(model)s"), { model: meta.upscaler || "" }, true);
  }

  function showImages(job) {
    (job.images || []).forEach(function (image) {
      const figure = el("figure", { "class": "refine-result" });
      const img = el("img", { src: image.url, alt: interpolate(gettext("Result %(id)s"), { id: image.id }, true) });
      const meta = image.metadata || {};
      let caption = meta.mode || "";
      if (meta.method) caption += " · " + upscaledBy(meta);
      if (meta.width) caption += " · " + meta.width + "×" + meta.height;
      const refine = el("a", { href: app.dataset.refineBase.replace("/0/", "/" + image.id + "/") }, gettext("Refine this one"));
      const download = el("a", { href: image.download_url }, gettext("Download"));
      const figcaption = el("figcaption", {}, caption + " ");
      figcaption.append(refine, " · ", download);
      figure.append(img, figcaption);
      results.prepend(figure);
    });
  }

  // ---------------------------------------------------------------------------------------- mask canvas

  const source = $("source-image");
  const canvas = $("mask-canvas");
  const stack = $("canvas-stack");
  const ctx = canvas.getContext("2d");
  const undoStack = [];
  const redoStack = [];
  let zoom = 1;
  let drawing = false;
  let last = null;

  function setup() {
    canvas.width = source.naturalWidth || Number(app.dataset.width) || 512;
    canvas.height = source.naturalHeight || Number(app.dataset.height) || 512;
    // Start at the largest zoom step that fits the page's width (small images get bigger, large ones fit).
    const room = $("canvas-scroll").clientWidth || canvas.width;
    const fits = ZOOMS.filter(function (z) { return canvas.width * z <= room; });
    applyZoom(fits.length ? fits[fits.length - 1] : ZOOMS[0]);
  }

  function applyZoom(value) {
    zoom = value;
    stack.style.width = Math.round(canvas.width * zoom) + "px";
    stack.style.height = Math.round(canvas.height * zoom) + "px";
    $("zoom-level").textContent = Math.round(zoom * 100) + "%";
  }

  function stepZoom(direction) {
    const index = ZOOMS.indexOf(zoom);
    const next = ZOOMS[Math.min(ZOOMS.length - 1, Math.max(0, (index < 0 ? 3 : index) + direction))];
    applyZoom(next);
  }

  function snapshot() {
    undoStack.push(ctx.getImageData(0, 0, canvas.width, canvas.height));
    if (undoStack.length > HISTORY) undoStack.shift();
    redoStack.length = 0;
    updateHistoryButtons();
  }

  function updateHistoryButtons() {
    $("undo").disabled = undoStack.length === 0;
    $("redo").disabled = redoStack.length === 0;
  }

  function restore(from, to) {
    if (!from.length) return;
    to.push(ctx.getImageData(0, 0, canvas.width, canvas.height));
    ctx.putImageData(from.pop(), 0, 0);
    updateHistoryButtons();
  }

  function point(ev) {
    const rect = canvas.getBoundingClientRect();
    return {
      x: (ev.clientX - rect.left) * canvas.width / rect.width,
      y: (ev.clientY - rect.top) * canvas.height / rect.height,
    };
  }

  function stroke(from, to) {
    const eraser = document.querySelector("input[name=tool]:checked").value === "eraser";
    ctx.globalCompositeOperation = eraser ? "destination-out" : "source-over";
    ctx.strokeStyle = "rgba(230, 0, 122, 1)";  // any opaque colour: the server reads the alpha
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.lineWidth = Number($("brush-size").value);
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x + 0.01, to.y);
    ctx.stroke();
  }

  canvas.addEventListener("pointerdown", function (ev) {
    ev.preventDefault();
    canvas.setPointerCapture(ev.pointerId);
    snapshot();
    drawing = true;
    last = point(ev);
    stroke(last, last);
  });
  canvas.addEventListener("pointermove", function (ev) {
    if (!drawing) return;
    const next = point(ev);
    stroke(last, next);
    last = next;
  });
  ["pointerup", "pointercancel", "pointerleave"].forEach(function (name) {
    canvas.addEventListener(name, function () { drawing = false; });
  });
  $("undo").addEventListener("click", function () { restore(undoStack, redoStack); });
  $("redo").addEventListener("click", function () { restore(redoStack, undoStack); });
  $("clear-mask").addEventListener("click", function () {
    snapshot();
    ctx.clearRect(0, 0, canvas.width, canvas.height);
  });
  $("zoom-in").addEventListener("click", function () { stepZoom(1); });
  $("zoom-out").addEventListener("click", function () { stepZoom(-1); });
  document.addEventListener("keydown", function (ev) {
    if (!(ev.ctrlKey || ev.metaKey) || ev.target.matches("input, textarea, select")) return;
    if (ev.key === "z" && !ev.shiftKey) { ev.preventDefault(); restore(undoStack, redoStack); }
    else if (ev.key === "y" || (ev.key === "z" && ev.shiftKey)) { ev.preventDefault(); restore(redoStack, undoStack); }
  });
  if (source.complete && source.naturalWidth) setup();
  else source.addEventListener("load", setup);

  function maskPainted() {
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < data.length; i += 4) if (data[i] >= 128) return true;
    return false;
  }

  $("inpaint-button").addEventListener("click", function () {
    if (!maskPainted()) { showError(gettext("The mask is empty: paint over the part of the image to change.")); return; }
    runJob(app.dataset.refineUrl, {
      mode: "inpaint",
      mask: canvas.toDataURL("image/png"),
      feather: Number($("feather").value),
      prompt: $("inpaint-prompt").value,
      strength: 1,
    }, showImages);
  });

  $("outpaint-button").addEventListener("click", function () {
    runJob(app.dataset.refineUrl, {
      mode: "outpaint",
      side: $("outpaint-side").value,
      amount: Number($("outpaint-amount").value),
      prompt: $("inpaint-prompt").value,
    }, showImages);
  });

  // ---------------------------------------------------------------------------------------- variation, upscale

  $("variation-button").addEventListener("click", function () {
    runJob(app.dataset.refineUrl, {
      mode: "variation",
      prompt: $("variation-prompt").value,
      strength: $("strength").value,
      steps: Number($("steps").value),
      seed: $("seed").value.trim(),
    }, showImages);
  });
  document.querySelectorAll("[data-upscale]").forEach(function (button) {
    button.addEventListener("click", function () {
      const method = $("upscale-method");
      runJob(app.dataset.refineUrl, {
        mode: "upscale",
        factor: Number(button.dataset.upscale),
        method: method ? method.value : "auto",
      }, showImages);
    });
  });

  // ---------------------------------------------------------------------------------------- image to text

  function showDescription(job) {
    const d = (job.progress || {}).description || {};
    if (d.caption !== undefined && d.keywords) {
      $("description").hidden = false;
      $("caption").textContent = d.caption || gettext("(The model gave no caption.)");
      $("keyword-count").textContent = interpolate(gettext("%(found)s of %(wanted)s keywords"), { found: d.keywords_found, wanted: d.keywords_wanted }, true);
      const list = $("keywords");
      list.replaceChildren();
      d.keywords.forEach(function (word) { list.append(el("li", {}, word)); });
      $("use-as-brief").href = app.dataset.studioUrl + "?brief=" + encodeURIComponent(d.caption || "");
    }
    (d.answers || []).forEach(function (pair) {
      const item = el("li");
      item.append(el("p", { "class": "question" }, pair.question), el("p", {}, pair.answer || gettext("(no answer)")));
      $("thread").append(item);
    });
  }

  $("describe-button").addEventListener("click", function () {
    runJob(app.dataset.describeUrl, { language: $("describe-language").value, caption: true }, showDescription);
  });
  $("question-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    const question = $("question").value.trim();
    if (!question) { showError(gettext("Write a question about the image.")); return; }
    runJob(app.dataset.describeUrl, { language: $("describe-language").value, caption: false, questions: [question] }, showDescription);
    $("question").value = "";
  });

  // ---------------------------------------------------------------------------------------- print export

  const form = $("export-form");
  let previewTimer = null;

  function exportOptions() {
    const data = {};
    form.querySelectorAll("input, select").forEach(function (field) {
      if (field.disabled) return;
      data[field.name] = field.type === "checkbox" ? field.checked : field.value;
    });
    return data;
  }

  function showFields() {
    const shape = $("export-shape").value;
    form.querySelectorAll("label[data-for]").forEach(function (label) {
      const on = label.dataset.for.split(" ").indexOf(shape) >= 0;
      label.hidden = !on;
      label.querySelectorAll("input, select").forEach(function (field) { field.disabled = !on; });
    });
  }

  async function refreshPreview() {
    const facts = $("print-facts");
    const warnings = $("print-warnings");
    try {
      const answer = await ex.api("POST", app.dataset.previewUrl, exportOptions());
      $("print-preview").src = answer.preview;
      $("print-preview").hidden = false;
      facts.textContent = interpolate(
        gettext("Page %(w)s × %(h)s mm (trim %(tw)s × %(th)s mm plus bleed), %(px)s × %(py)s pixels; the image gives about %(dpi)s DPI."),
        { w: answer.page_mm[0], h: answer.page_mm[1], tw: answer.trim_mm[0], th: answer.trim_mm[1], px: answer.pixels[0], py: answer.pixels[1], dpi: answer.effective_dpi }, true);
      warnings.replaceChildren();
      answer.warnings.forEach(function (w) { warnings.append(el("li", {}, w)); });
      showError("");
    } catch (err) {
      facts.textContent = "";
      showError(err.message);
    }
  }

  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(refreshPreview, 350);
  }

  form.addEventListener("input", schedulePreview);
  form.addEventListener("change", function (ev) {
    if (ev.target.name === "shape") showFields();
    schedulePreview();
  });
  showFields();
  refreshPreview();

  $("export-button").addEventListener("click", function () {
    runJob(app.dataset.exportUrl, exportOptions(), function (job) {
      const box = $("downloads");
      box.replaceChildren();
      const labels = { pdf: gettext("Download the PDF"), tiff: gettext("Download the CMYK TIFF"), preview: gettext("Preview PNG") };
      Object.keys(job.downloads || {}).forEach(function (kind) {
        box.append(el("a", { href: job.downloads[kind], "class": "button secondary small", "data-kind": kind }, labels[kind] || kind), " ");
      });
      const p = job.progress || {};
      if (p.timings) box.append(el("span", { "class": "muted small-text" }, interpolate(gettext("Made in %(s)s s."), { s: (p.timings.total / 1000).toFixed(1) }, true)));
    });
  });
})();
