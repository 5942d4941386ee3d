// The front-end of the book's explorers (mnv3lib/viz/widgets.py). Plain JavaScript, no dependency,
// no network: the Python side computes the data once and hands it to `mount(element, data)`, and
// everything the controls change (filtering, NMS, masks, tables) is drawn here, on canvases.
//
// One classic script, evaluated once per explorer output. It defines `MNV3Explorers` and mounts the
// explorer whose element and data follow it (see `_repr_html_` in widgets.py).
var MNV3Explorers = (function () {
  "use strict";

  var PALETTE = ["#000000", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#e377c2", "#8c564b", "#17becf", "#bcbd22"];
  var f32 = Math.fround;

  // ---------------------------------------------------------------------------------------------
  // Detection: score filter + torchvision.ops.batched_nms, in float32 like torchvision's CPU kernel
  // ---------------------------------------------------------------------------------------------

  // Greedy NMS over every box (torchvision/csrc/ops/cpu/nms_kernel.cpp): a stable sort by score,
  // descending; a box is suppressed when its IoU with a kept box is strictly above the threshold.
  // Each arithmetic step is rounded to float32, as the C++ kernel computes in float.
  function nms(boxes, scores, iouThreshold) {
    var n = scores.length, order = [], i, k;
    for (i = 0; i < n; i++) order.push(i);
    order.sort(function (a, b) { return scores[b] - scores[a] || a - b; });  // stable, descending
    var areas = boxes.map(function (b) { return f32(f32(b[2] - b[0]) * f32(b[3] - b[1])); });
    var suppressed = new Uint8Array(n), keep = [];
    for (k = 0; k < n; k++) {
      i = order[k];
      if (suppressed[i]) continue;
      keep.push(i);
      var bi = boxes[i];
      for (var m = k + 1; m < n; m++) {
        var j = order[m];
        if (suppressed[j]) continue;
        var bj = boxes[j];
        var w = Math.max(0, f32(Math.min(bi[2], bj[2]) - Math.max(bi[0], bj[0])));
        var h = Math.max(0, f32(Math.min(bi[3], bj[3]) - Math.max(bi[1], bj[1])));
        var inter = f32(w * h);
        var ovr = f32(inter / f32(f32(areas[i] + areas[j]) - inter));
        if (ovr > iouThreshold) suppressed[j] = 1;  // NaN (empty boxes) never suppresses
      }
    }
    return keep;
  }

  // torchvision.ops.batched_nms: NMS within each label. Up to 4000 coordinates (1000 boxes) it
  // offsets each label's boxes by label * (max coordinate + 1) and runs one NMS, as torchvision
  // does on the CPU, so the float32 rounding of the shifted boxes is the same too.
  function batchedNms(boxes, scores, labels, iouThreshold) {
    if (!boxes.length) return [];
    var keep;
    if (boxes.length * 4 <= 4000) {
      var maxCoordinate = -Infinity;
      boxes.forEach(function (b) { for (var c = 0; c < 4; c++) maxCoordinate = Math.max(maxCoordinate, b[c]); });
      var step = f32(maxCoordinate + 1);
      var shifted = boxes.map(function (b, i) {
        var offset = f32(labels[i] * step);
        return b.map(function (v) { return f32(v + offset); });
      });
      keep = nms(shifted, scores, iouThreshold);
    } else {
      keep = [];
      var byLabel = {};
      labels.forEach(function (label, i) { (byLabel[label] = byLabel[label] || []).push(i); });
      Object.keys(byLabel).forEach(function (label) {
        var members = byLabel[label];
        nms(members.map(function (i) { return boxes[i]; }), members.map(function (i) { return scores[i]; }), iouThreshold)
          .forEach(function (k) { keep.push(members[k]); });
      });
    }
    return keep.sort(function (a, b) { return scores[b] - scores[a] || a - b; });
  }

  // mnv3lib.viz.drawing.filter_predictions: keep scores >= threshold (compared in float32, as torch
  // compares a float32 tensor with a Python float), then batched NMS; indices into the candidates.
  function filterCandidates(candidates, scoreThreshold, iouThreshold) {
    var threshold = f32(scoreThreshold), passing = [];
    candidates.scores.forEach(function (s, i) { if (s >= threshold) passing.push(i); });
    if (iouThreshold === null || iouThreshold === undefined) return passing;
    var kept = batchedNms(
      passing.map(function (i) { return candidates.boxes[i]; }),
      passing.map(function (i) { return candidates.scores[i]; }),
      passing.map(function (i) { return candidates.labels[i]; }),
      iouThreshold
    );
    return kept.map(function (k) { return passing[k]; });
  }

  // Numbers arrive as the shortest decimal that round-trips their float32 value.
  function asFloat32(candidates) {
    return {
      boxes: candidates.boxes.map(function (b) { return b.map(f32); }),
      scores: candidates.scores.map(f32),
      labels: candidates.labels,
      keypoints: candidates.keypoints || null,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Small DOM helpers
  // ---------------------------------------------------------------------------------------------

  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (key) {
      if (key === "style") node.style.cssText = attributes[key];
      else if (key === "text") node.textContent = attributes[key];
      else node.setAttribute(key, attributes[key]);
    });
    (children || []).forEach(function (child) { node.appendChild(typeof child === "string" ? document.createTextNode(child) : child); });
    return node;
  }

  function control(root, name, input, readout) {
    input.setAttribute("data-control", name);
    var label = el("label", { style: "display:inline-flex; align-items:center; gap:4px; margin:2px 12px 2px 0; white-space:nowrap" }, [name, input]);
    if (readout) label.appendChild(readout);
    return label;
  }

  function slider(root, name, options, onChange) {
    // options: {min, max, step, value, format}
    var input = el("input", { type: "range", min: options.min, max: options.max, step: options.step, value: options.value, style: "width:140px" });
    var readout = el("output", { style: "min-width:3.5em; font-variant-numeric:tabular-nums" });
    var show = function () { readout.textContent = options.format(Number(input.value)); };
    show();
    input.addEventListener("input", function () { show(); onChange(Number(input.value)); });
    return { node: control(root, name, input, readout), input: input };
  }

  function checkbox(root, name, checked, onChange, swatch) {
    var input = el("input", { type: "checkbox" });
    input.checked = checked;
    input.addEventListener("change", function () { onChange(input.checked); });
    var node = control(root, name, input);
    if (swatch) node.insertBefore(el("span", { style: "color:" + swatch, text: "■" }), node.firstChild);
    return { node: node, input: input };
  }

  function select(root, name, choices, value, onChange) {
    var input = el("select");
    choices.forEach(function (choice) {
      var option = el("option", { value: String(choice[0]), text: choice[1] });
      if (String(choice[0]) === String(value)) option.selected = true;
      input.appendChild(option);
    });
    input.addEventListener("change", function () { onChange(input.value); });
    return { node: control(root, name, input), input: input };
  }

  function row(children) {
    return el("div", { style: "display:flex; flex-wrap:wrap; align-items:center; margin:2px 0" }, children);
  }

  function loadImage(uri) {
    var image = new Image();
    image.src = uri;
    return (image.decode ? image.decode() : new Promise(function (ok) { image.onload = ok; })).then(function () { return image; });
  }

  function canvasFor(width, height, scale, title) {
    var canvas = el("canvas", { width: width * scale, height: height * scale, "data-panel": title, style: "display:block" });
    var figure = el("figure", { style: "display:inline-block; margin:0 8px 4px 0" }, [canvas, el("figcaption", { style: "text-align:center; font-size:85%", text: title })]);
    return { canvas: canvas, figure: figure, context: canvas.getContext("2d") };
  }

  function ready(root, state) {
    root.setAttribute("data-state", JSON.stringify(state));
    if (!root.hasAttribute("data-ready-ms")) root.setAttribute("data-ready-ms", String(Math.round(performance.now())));
  }

  // ---------------------------------------------------------------------------------------------
  // Chapter 4: detection explorer
  // ---------------------------------------------------------------------------------------------

  function drawDetections(ctx, image, scale, detections, indices, classes, visible, style) {
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(image, 0, 0, image.naturalWidth * scale, image.naturalHeight * scale);
    var drawn = 0, hasScores = !!detections.scores;
    ctx.lineWidth = 2;
    ctx.font = "bold " + (6 * scale) + "px sans-serif";
    ctx.textBaseline = "top";
    indices.forEach(function (i) {
      var label = detections.labels[i];
      if (!visible[label]) return;
      var b = detections.boxes[i], color = PALETTE[label % PALETTE.length];
      ctx.strokeStyle = color;
      ctx.strokeRect(b[0] * scale, b[1] * scale, (b[2] - b[0]) * scale, (b[3] - b[1]) * scale);
      var caption = classes[label - 1] + (hasScores ? " " + detections.scores[i].toFixed(2) : "");
      var width = ctx.measureText(caption).width + 4;
      ctx.fillStyle = color;
      ctx.fillRect(b[0] * scale, b[1] * scale, width, 7 * scale);
      ctx.fillStyle = "#ffffff";
      ctx.fillText(caption, b[0] * scale + 2, b[1] * scale + 0.5 * scale);
      drawn++;
      var points = detections.keypoints && detections.keypoints[i];
      if (style.showKeypoints && points && label === style.keypointLabel) {
        ctx.strokeStyle = "#ffffff";
        ctx.fillStyle = "#ffffff";
        (style.skeleton || []).forEach(function (pair) {
          var p = points[pair[0] - 1], q = points[pair[1] - 1];
          if (!p || !q || p[2] <= 0 || q[2] <= 0) return;
          ctx.beginPath();
          ctx.moveTo(p[0] * scale, p[1] * scale);
          ctx.lineTo(q[0] * scale, q[1] * scale);
          ctx.stroke();
        });
        points.forEach(function (p) {
          if (p[2] <= 0) return;
          ctx.beginPath();
          ctx.arc(p[0] * scale, p[1] * scale, 2 * scale, 0, 2 * Math.PI);
          ctx.fill();
        });
      }
    });
    return drawn;
  }

  // `data.predictions` holds one detector's candidates per image; `data.models` ([{name, predictions}],
  // in the menu's order) several detectors' on the same images, one shown at a time.
  function detection(root, data) {
    var models = data.models || [{ name: null, predictions: data.predictions }], model = 0;
    var state = { image: 0, score: data.score_threshold, iou: data.nms_iou, keypoints: true, truth: false, visible: {} };
    if (data.models) state.model = models[0].name;
    data.classes.forEach(function (_, c) { state.visible[c + 1] = true; });
    var candidates = models.map(function (m) { return m.predictions.map(asFloat32); });  // [model][image]
    var images = [], panels = {}, caption = el("div", { style: "font-size:90%" });
    var n = data.images.length, format2 = function (v) { return v.toFixed(2); };
    var picker = slider(root, "image", { min: 0, max: n - 1, step: 1, value: 0, format: function (v) { return (v + 1) + " / " + n; } }, function (v) { state.image = v; redraw(); });
    var score = slider(root, "min score", { min: 0, max: 1, step: 0.05, value: state.score, format: format2 }, function (v) { state.score = v; redraw(); });
    var iou = slider(root, "NMS IoU", { min: 0.05, max: 1, step: 0.05, value: state.iou, format: format2 }, function (v) { state.iou = v; redraw(); });
    var toggles = data.classes.map(function (name, c) {
      return checkbox(root, name, true, function (on) { state.visible[c + 1] = on; redraw(); }, PALETTE[(c + 1) % PALETTE.length]).node;
    });
    var chooser = data.models && select(root, "model", models.map(function (m, i) { return [i, m.name]; }), 0, function (v) {
      model = Number(v);
      state.model = models[model].name;
      redraw();
    });
    var hasKeypoints = data.keypoint_label !== null && candidates.some(function (perImage) { return perImage.some(function (p) { return p.keypoints; }); });
    var keypoints = checkbox(root, "keypoints and skeleton", true, function (on) { state.keypoints = on; redraw(); });
    var truth = checkbox(root, "ground truth", false, function (on) { state.truth = on; redraw(); });
    if (!hasKeypoints) keypoints.input.disabled = true;
    if (!data.targets) truth.input.disabled = true;
    var pictures = el("div");
    root.appendChild(row((chooser ? [chooser.node] : []).concat([picker.node, score.node, iou.node])));
    root.appendChild(row(toggles));
    root.appendChild(row([keypoints.node, truth.node]));
    root.appendChild(pictures);
    root.appendChild(caption);

    function redraw() {
      var image = images[state.image];
      if (!image) return;
      var predictions = candidates[model][state.image];
      var kept = filterCandidates(predictions, state.score, state.iou);
      var style = { showKeypoints: state.keypoints, keypointLabel: data.keypoint_label, skeleton: data.skeleton };
      var size = [image.naturalWidth, image.naturalHeight];
      if (!panels.prediction || panels.size !== size.join("x")) {
        pictures.textContent = "";
        panels = { size: size.join("x"), prediction: canvasFor(size[0], size[1], data.scale, "prediction"), truth: canvasFor(size[0], size[1], data.scale, "ground truth") };
        pictures.appendChild(panels.prediction.figure);
        pictures.appendChild(panels.truth.figure);
      }
      if (data.models) panels.prediction.figure.lastChild.textContent = "prediction: " + state.model;
      var drawn = drawDetections(panels.prediction.context, image, data.scale, predictions, kept, data.classes, state.visible, style);
      var truthDrawn = 0;
      panels.truth.figure.style.display = state.truth && data.targets ? "inline-block" : "none";
      if (state.truth && data.targets) {
        var target = data.targets[state.image];
        var all = target.labels.map(function (_, i) { return i; });
        truthDrawn = drawDetections(panels.truth.context, image, data.scale, target, all, data.classes, state.visible, style);
      }
      var shown = kept.filter(function (i) { return state.visible[predictions.labels[i]]; });
      var names = shown.map(function (i) { return data.classes[predictions.labels[i] - 1] + " " + predictions.scores[i].toFixed(2); });
      caption.textContent = (data.models ? state.model + ": " : "") + kept.length + " of " + predictions.scores.length +
        " candidates kept: " + (names.join(", ") || "none");
      root.setAttribute("data-drawn-boxes", String(drawn));
      root.setAttribute("data-drawn-indices", shown.join(","));  // indices into the shown model's candidates
      root.setAttribute("data-drawn-truth-boxes", String(truthDrawn));
      ready(root, state);
    }

    Promise.all(data.images.map(loadImage)).then(function (loaded) { images = loaded; redraw(); });
  }

  // ---------------------------------------------------------------------------------------------
  // Chapter 6: segmentation explorer
  // ---------------------------------------------------------------------------------------------

  // Run-length code: [value, count, value, count, ...] over the pixels in row-major order.
  function decodeRle(rle, size) {
    var out = new Uint8Array(size), at = 0;
    for (var k = 0; k < rle.length; k += 2) {
      out.fill(rle[k], at, at + rle[k + 1]);
      at += rle[k + 1];
    }
    return out;
  }

  function hexToRgb(hex) {
    return [parseInt(hex.slice(1, 3), 16), parseInt(hex.slice(3, 5), 16), parseInt(hex.slice(5, 7), 16)];
  }

  // torchvision.utils.draw_segmentation_masks: paint every mask (a later one over an earlier one),
  // then blend once: image * (1 - alpha) + colour * alpha, on the masked pixels only.
  function blendMasks(pixels, layers, alpha) {
    var out = new Uint8ClampedArray(pixels.data), n = pixels.width * pixels.height;
    var colour = new Int16Array(n * 3).fill(-1);
    layers.forEach(function (layer) {
      var rgb = hexToRgb(layer.colour);
      for (var p = 0; p < n; p++) if (layer.mask(p)) { colour[3 * p] = rgb[0]; colour[3 * p + 1] = rgb[1]; colour[3 * p + 2] = rgb[2]; }
    });
    for (var p = 0; p < n; p++) {
      if (colour[3 * p] < 0) continue;
      for (var c = 0; c < 3; c++) out[4 * p + c] = Math.round(pixels.data[4 * p + c] * (1 - alpha) + colour[3 * p + c] * alpha);
    }
    return new ImageData(out, pixels.width, pixels.height);
  }

  function segmentation(root, data) {
    var classes = data.classes, n = data.images.length;
    var state = { image: 0, opacity: data.alpha, prediction: true, truth: !!data.targets, instances: !!data.instances, visible: {} };
    classes.forEach(function (_, c) { if (c > 0) state.visible[c] = true; });
    var sources = [], decoded = {}, panels = [];
    var picker = slider(root, "image", { min: 0, max: n - 1, step: 1, value: 0, format: function (v) { return (v + 1) + " / " + n; } }, function (v) { state.image = v; redraw(); });
    var opacity = slider(root, "opacity", { min: 0, max: 1, step: 0.05, value: state.opacity, format: function (v) { return v.toFixed(2); } }, function (v) { state.opacity = v; redraw(); });
    var toggles = classes.slice(1).map(function (name, c) {
      return checkbox(root, name, true, function (on) { state.visible[c + 1] = on; redraw(); }, PALETTE[(c + 1) % PALETTE.length]).node;
    });
    var prediction = checkbox(root, "prediction", true, function (on) { state.prediction = on; redraw(); });
    var truth = checkbox(root, "ground truth", state.truth, function (on) { state.truth = on; redraw(); });
    var instances = checkbox(root, "instance masks", state.instances, function (on) { state.instances = on; redraw(); });
    if (!data.targets) truth.input.disabled = true;
    if (!data.instances) instances.input.disabled = true;
    var pictures = el("div"), caption = el("div", { style: "font-size:90%" });
    root.appendChild(row([picker.node, opacity.node]));
    root.appendChild(row(toggles));
    root.appendChild(row([prediction.node, truth.node, instances.node]));
    root.appendChild(pictures);
    root.appendChild(caption);

    function masksOf(index) {
      if (!decoded[index]) {
        var size = data.width * data.height;
        decoded[index] = {
          prediction: decodeRle(data.predictions[index], size),
          truth: data.targets ? decodeRle(data.targets[index], size) : null,
          instances: data.instances ? data.instances[index].map(function (instance) { return { label: instance.label, mask: decodeRle(instance.mask, size) }; }) : null,
        };
      }
      return decoded[index];
    }

    function semanticLayers(ids) {
      return Object.keys(state.visible).filter(function (c) { return state.visible[c]; }).map(function (c) {
        c = Number(c);
        return { colour: PALETTE[c % PALETTE.length], mask: function (p) { return ids[p] === c; } };
      });
    }

    function redraw() {
      var source = sources[state.image];
      if (!source) return;
      var masks = masksOf(state.image), wanted = [];
      if (state.prediction) wanted.push(["prediction", semanticLayers(masks.prediction)]);
      if (state.truth && masks.truth) wanted.push(["ground truth", semanticLayers(masks.truth)]);
      if (state.instances && masks.instances) {
        var shown = masks.instances.filter(function (instance) { return state.visible[instance.label]; });
        wanted.push(["instances", shown.map(function (instance, i) {
          return { colour: PALETTE[1 + (i % (PALETTE.length - 1))], mask: function (p) { return instance.mask[p] > 0; } };
        })]);
      }
      pictures.textContent = "";
      panels = wanted.map(function (item) {
        var panel = canvasFor(data.width, data.height, data.scale, item[0]);
        var blended = blendMasks(source, item[1], state.opacity);
        var native = el("canvas", { width: data.width, height: data.height });
        native.getContext("2d").putImageData(blended, 0, 0);
        panel.context.imageSmoothingEnabled = false;
        panel.context.drawImage(native, 0, 0, data.width * data.scale, data.height * data.scale);
        pictures.appendChild(panel.figure);
        return panel;
      });
      var present = {};
      masks.prediction.forEach(function (c) { present[c] = true; });
      var names = classes.filter(function (_, c) { return c > 0 && present[c]; });
      caption.textContent = "predicted classes: " + (names.join(", ") || "background only");
      root.setAttribute("data-panels", wanted.map(function (item) { return item[0]; }).join(","));
      ready(root, state);
    }

    Promise.all(data.images.map(loadImage)).then(function (loaded) {
      sources = loaded.map(function (image) {
        var canvas = el("canvas", { width: data.width, height: data.height });
        var context = canvas.getContext("2d");
        context.drawImage(image, 0, 0);
        return context.getImageData(0, 0, data.width, data.height);
      });
      redraw();
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Chapter 1: architecture explorer (precomputed configurations)
  // ---------------------------------------------------------------------------------------------

  function formatCount(value, unit, digits) {
    return (value / unit).toFixed(digits);
  }

  function architecture(root, data) {
    var state = { arch: data.default.arch, width: data.default.width_mult, reduced_tail: data.default.reduced_tail, dilated: data.default.dilated };
    var widths = data.width_mults;
    var arch = select(root, "arch", data.archs.map(function (a) { return [a, a.replace("mobilenet_v3_", "").replace(/^./, function (s) { return s.toUpperCase(); })]; }), state.arch, function (v) { state.arch = v; redraw(); });
    var width = slider(root, "width_mult", { min: 0, max: widths.length - 1, step: 1, value: widths.indexOf(state.width), format: function (i) { return widths[i].toFixed(2); } }, function (i) { state.width = widths[i]; redraw(); });
    var reduced = checkbox(root, "reduced_tail", state.reduced_tail, function (on) { state.reduced_tail = on; redraw(); });
    var dilated = checkbox(root, "dilated", state.dilated, function (on) { state.dilated = on; redraw(); });
    var summary = el("div", { style: "margin:4px 0" });
    var chart = canvasFor(560, 120, 1, "multiply-adds per layer (bars) and output channels (line)");
    var table = el("div", { style: "overflow-x:auto; font-size:85%" });
    root.appendChild(row([arch.node, width.node, reduced.node, dilated.node]));
    root.appendChild(summary);
    root.appendChild(chart.figure);
    root.appendChild(table);

    function key() {
      return [state.arch, state.width.toFixed(2), state.reduced_tail ? 1 : 0, state.dilated ? 1 : 0].join("|");
    }

    function drawChart(config) {
      var ctx = chart.context, w = chart.canvas.width, h = chart.canvas.height;
      var macs = config.rows.map(function (r) { return r[data.columns.indexOf("MACs")]; });
      var outs = config.rows.map(function (r) { return r[data.columns.indexOf("out")]; });
      ctx.fillStyle = "#ffffff";
      ctx.fillRect(0, 0, w, h);
      var slot = w / macs.length;
      macs.forEach(function (m, i) {
        var bar = (h - 10) * m / data.chart.max_macs;
        ctx.fillStyle = PALETTE[1];
        ctx.fillRect(i * slot + 2, h - bar, slot - 4, bar);
      });
      ctx.strokeStyle = PALETTE[2];
      ctx.lineWidth = 2;
      ctx.beginPath();
      outs.forEach(function (o, i) {
        var y = h - (h - 10) * o / data.chart.max_out;
        if (i === 0) ctx.moveTo(i * slot + slot / 2, y); else ctx.lineTo(i * slot + slot / 2, y);
      });
      ctx.stroke();
    }

    function redraw() {
      var config = data.configs[key()];
      var latency = config.latency_ms !== null ? config.latency_ms.toFixed(1) + " ms (measured in Python when this page was made, " + data.latency_note + ")"
        : data.latency_note ? "not measured for this variant (turn reduced_tail and dilated off)" : "not measured";
      summary.innerHTML = "<b>" + formatCount(config.params, 1e6, 3) + " M</b> parameters &nbsp;·&nbsp; <b>" + formatCount(config.macs, 1e9, 3) +
        " G</b> multiply-adds &nbsp;·&nbsp; output stride <b>" + config.output_stride + "</b> &nbsp;·&nbsp; CPU latency at batch 1: <b>" + latency + "</b>";
      drawChart(config);
      var head = el("tr", {}, data.columns.map(function (c) { return el("th", { text: c, style: "padding:0 6px; text-align:right" }); }));
      var body = config.rows.map(function (r) {
        return el("tr", {}, r.map(function (v) { return el("td", { text: v === null ? "–" : String(v), style: "padding:0 6px; text-align:right" }); }));
      });
      table.textContent = "";
      table.appendChild(el("table", { style: "border-collapse:collapse" }, [el("thead", {}, [head]), el("tbody", {}, body)]));
      ready(root, state);
    }

    redraw();
  }

  // ---------------------------------------------------------------------------------------------
  // Chapter 3: calibration explorer (the recorded sweep)
  // ---------------------------------------------------------------------------------------------

  function calibration(root, data) {
    var state = { observer: data.observers[0], batches: data.batch_counts[0], metric: data.metrics[0] };
    var counts = data.batch_counts;
    var observer = select(root, "observer", data.observers.map(function (o) { return [o, o]; }), state.observer, function (v) { state.observer = v; redraw(); });
    var batches = slider(root, "batches", { min: 0, max: counts.length - 1, step: 1, value: 0, format: function (i) { return String(counts[i]); } }, function (i) { state.batches = counts[i]; redraw(); });
    var metric = select(root, "metric", data.metrics.map(function (m) { return [m, m]; }), state.metric, function (v) { state.metric = v; redraw(); });
    var result = el("div", { style: "margin:4px 0" });
    var chart = canvasFor(480, 200, 1, "the recorded sweep: the chosen metric against calibration batches, one line per observer");
    root.appendChild(row([observer.node, batches.node, metric.node]));
    root.appendChild(result);
    root.appendChild(chart.figure);

    function value(o, b, m) {
      var found = data.results[o + "|" + b];
      return found && typeof found[m] === "number" ? found[m] : null;
    }

    function drawChart() {
      var ctx = chart.context, w = chart.canvas.width, h = chart.canvas.height, pad = 28;
      var all = [];
      data.observers.forEach(function (o) { counts.forEach(function (b) { var v = value(o, b, state.metric); if (v !== null) all.push(v); }); });
      var low = Math.min.apply(null, all), high = Math.max.apply(null, all);
      if (!(high > low)) { low -= 1; high += 1; }
      var x = function (i) { return pad + (w - 2 * pad) * (counts.length > 1 ? i / (counts.length - 1) : 0.5); };
      var y = function (v) { return h - pad - (h - 2 * pad) * (v - low) / (high - low); };
      ctx.fillStyle = "#ffffff";
      ctx.fillRect(0, 0, w, h);
      ctx.font = "11px sans-serif";
      ctx.fillStyle = "#444444";
      counts.forEach(function (b, i) { ctx.fillText(String(b), x(i) - 4, h - 8); });
      ctx.fillText(high.toFixed(2), 2, pad - 4);
      ctx.fillText(low.toFixed(2), 2, h - pad + 12);
      data.observers.forEach(function (o, k) {
        var colour = PALETTE[1 + (k % (PALETTE.length - 1))];
        ctx.strokeStyle = colour;
        ctx.lineWidth = o === state.observer ? 3 : 1;
        ctx.beginPath();
        var started = false;
        counts.forEach(function (b, i) {
          var v = value(o, b, state.metric);
          if (v === null) { started = false; return; }
          if (!started) ctx.moveTo(x(i), y(v)); else ctx.lineTo(x(i), y(v));
          started = true;
        });
        ctx.stroke();
        ctx.fillStyle = colour;
        ctx.fillText(o, w - pad - 70, pad + 12 * k);
      });
      var chosen = value(state.observer, state.batches, state.metric);
      if (chosen !== null) {
        ctx.fillStyle = "#000000";
        ctx.beginPath();
        ctx.arc(x(counts.indexOf(state.batches)), y(chosen), 5, 0, 2 * Math.PI);
        ctx.fill();
      }
    }

    function redraw() {
      var found = data.results[state.observer + "|" + state.batches];
      var plural = state.batches > 1 ? "es" : "";
      var metrics = found ? Object.keys(found).map(function (m) { return m + " <b>" + Number(found[m]).toFixed(2) + "</b>"; }).join(" &nbsp;·&nbsp; ") : "<i>not recorded</i>";
      result.innerHTML = state.observer + " observer, " + state.batches + " calibration batch" + plural + ": " + metrics;
      drawChart();
      ready(root, state);
    }

    redraw();
  }

  var KINDS = { detection: detection, segmentation: segmentation, architecture: architecture, calibration: calibration };

  // Draw the explorer described by `data` (its `kind` and payload) inside `element`.
  function mount(element, data) {
    var draw = KINDS[data.kind];
    if (!draw) throw new Error("mnv3lib explorer: unknown kind " + JSON.stringify(data.kind));
    element.textContent = "";
    element.setAttribute("data-kind", data.kind);
    draw(element, data);
  }

  return { mount: mount, nms: nms, batchedNms: batchedNms, filterCandidates: filterCandidates, asFloat32: asFloat32, decodeRle: decodeRle, PALETTE: PALETTE };
})();
