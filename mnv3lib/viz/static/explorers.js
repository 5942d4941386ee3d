// The front-end of the book's explorers (mnv3lib/viz/widgets.py). Plain JavaScript, no dependency,
// no network: the Python side computes the data once and hands it to `mount(element, data)`, and
// everything the controls change (filtering, NMS, masks, tables, curves, grids, boxes) is drawn here, on canvases.
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


  // ---------------------------------------------------------------------------------------------
  // Plots on a canvas: axes, ticks and lines
  // ---------------------------------------------------------------------------------------------

  // A frame inside a canvas with linear or log10 axes; `x(v)`, `y(v)` map data to pixels.
  function frame(ctx, box, xRange, yRange, logX, logY) {
    var tx = logX ? Math.log10 : function (v) { return v; }, ty = logY ? Math.log10 : function (v) { return v; };
    var x0 = tx(xRange[0]), x1 = tx(xRange[1]), y0 = ty(yRange[0]), y1 = ty(yRange[1]);
    return {
      box: box,
      x: function (v) { return box.left + (box.width * (tx(v) - x0)) / (x1 - x0); },
      y: function (v) { return box.top + box.height - (box.height * (ty(v) - y0)) / (y1 - y0); },
    };
  }

  function clear(ctx) {
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, ctx.canvas.width, ctx.canvas.height);
  }

  function axes(ctx, f, xTicks, yTicks, xLabel, yLabel) {
    var b = f.box;
    ctx.strokeStyle = "#dddddd";
    ctx.lineWidth = 1;
    ctx.font = "11px sans-serif";
    ctx.fillStyle = "#444444";
    xTicks.forEach(function (t) {
      var px = f.x(t[0]);
      ctx.beginPath(); ctx.moveTo(px, b.top); ctx.lineTo(px, b.top + b.height); ctx.stroke();
      ctx.textAlign = "center";
      ctx.fillText(t[1], px, b.top + b.height + 13);
    });
    yTicks.forEach(function (t) {
      var py = f.y(t[0]);
      ctx.beginPath(); ctx.moveTo(b.left, py); ctx.lineTo(b.left + b.width, py); ctx.stroke();
      ctx.textAlign = "right";
      ctx.fillText(t[1], b.left - 4, py + 4);
    });
    ctx.strokeStyle = "#444444";
    ctx.strokeRect(b.left, b.top, b.width, b.height);
    ctx.textAlign = "center";
    ctx.fillText(xLabel, b.left + b.width / 2, b.top + b.height + 28);
    ctx.save();
    ctx.translate(12, b.top + b.height / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText(yLabel, 0, 0);
    ctx.restore();
    ctx.textAlign = "left";
  }

  function decadeTicks(low, high, every) {
    var ticks = [];
    for (var k = Math.ceil(Math.log10(low)); k <= Math.floor(Math.log10(high)); k += every || 1) ticks.push([Math.pow(10, k), "1e" + k]);
    return ticks;
  }

  function polyline(ctx, f, xs, ys, colour, width, dash) {
    ctx.save();
    ctx.beginPath();
    ctx.rect(f.box.left, f.box.top, f.box.width, f.box.height);
    ctx.clip();
    ctx.strokeStyle = colour;
    ctx.lineWidth = width;
    ctx.setLineDash(dash || []);
    ctx.beginPath();
    xs.forEach(function (x, i) { if (i === 0) ctx.moveTo(f.x(x), f.y(ys[i])); else ctx.lineTo(f.x(x), f.y(ys[i])); });
    ctx.stroke();
    ctx.restore();
  }

  function legend(ctx, x, y, entries) {
    ctx.font = "11px sans-serif";
    entries.forEach(function (e, i) {
      ctx.strokeStyle = e[1];
      ctx.lineWidth = 2;
      ctx.setLineDash(e[2] || []);
      ctx.beginPath(); ctx.moveTo(x, y + 14 * i); ctx.lineTo(x + 22, y + 14 * i); ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = "#222222";
      ctx.fillText(e[0], x + 27, y + 14 * i + 4);
    });
  }

  function exponential(v) {
    var text = v.toExponential(2).replace(/\.?0+e/, "e").replace("e+", "e");
    return v >= 0.01 && v < 1000 ? String(Number(v.toPrecision(3))) : text;
  }

  // ---------------------------------------------------------------------------------------------
  // Chapter 2: RMSProp's steady-state step, epsilon inside or outside the square root
  // ---------------------------------------------------------------------------------------------

  var RMSPROP_COLOURS = { tf: "#dd8452", literal: "#999999", ported: "#4c72b0" };

  function rmsprop(root, data) {
    var state = { eps: data.default.eps, lr: data.default.lr };
    var g = data.grad_rms, epsValues = data.eps_values, rates = data.learning_rates;
    var eps = slider(root, "eps (TensorFlow's)", { min: 0, max: epsValues.length - 1, step: 1, value: state.eps, format: function (i) { return exponential(epsValues[i]); } }, function (i) { state.eps = i; redraw(); });
    var lr = slider(root, "learning rate", { min: 0, max: rates.length - 1, step: 1, value: state.lr, format: function (i) { return exponential(rates[i]); } }, function (i) { state.lr = i; redraw(); });
    var readout = el("div", { style: "margin:4px 0" });
    var chart = canvasFor(620, 340, 1, "|Δw| per step once the mean square has settled, against the gradient's RMS (both axes log)");
    root.appendChild(row([eps.node, lr.node]));
    root.appendChild(readout);
    root.appendChild(chart.figure);
    // The y range covers every curve at every learning rate, so that the sliders move the curves, not the axes.
    var lowest = Infinity, highest = 0;
    data.curves.forEach(function (c) {
      ["tf", "literal", "ported"].forEach(function (k) { c[k].forEach(function (v) { if (v > 0) { lowest = Math.min(lowest, v); highest = Math.max(highest, v); } }); });
    });
    var yRange = [Math.pow(10, Math.floor(Math.log10(lowest * rates[0]))), Math.pow(10, Math.ceil(Math.log10(highest * rates[rates.length - 1])))];

    function redraw() {
      var curves = data.curves[state.eps], rate = rates[state.lr], ctx = chart.context;
      var scaled = {};
      ["tf", "literal", "ported"].forEach(function (k) { scaled[k] = curves[k].map(function (v) { return rate * v; }); });
      clear(ctx);
      var f = frame(ctx, { left: 58, top: 12, width: 540, height: 280 }, [g[0], g[g.length - 1]], yRange, true, true);
      axes(ctx, f, decadeTicks(g[0], g[g.length - 1]), decadeTicks(yRange[0], yRange[1], 2), "gradient RMS  g", "|Δw| per step");
      var marker = Math.sqrt(epsValues[state.eps]);
      ctx.strokeStyle = "#4c72b0";
      ctx.setLineDash([2, 3]);
      ctx.beginPath(); ctx.moveTo(f.x(marker), f.box.top); ctx.lineTo(f.x(marker), f.box.top + f.box.height); ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = "#4c72b0";
      ctx.fillText("ported eps = √eps_TF = " + exponential(curves.ported_eps), Math.min(f.x(marker) + 4, f.box.left + f.box.width - 170), f.box.top + f.box.height - 8);
      if (data.samples) {
        ctx.strokeStyle = "rgba(0, 0, 0, 0.35)";
        data.samples.forEach(function (v) {
          if (v < g[0] || v > g[g.length - 1]) return;
          ctx.beginPath(); ctx.moveTo(f.x(v), f.box.top + f.box.height); ctx.lineTo(f.x(v), f.box.top + f.box.height - 8); ctx.stroke();
        });
      }
      polyline(ctx, f, g, scaled.literal, RMSPROP_COLOURS.literal, 2, [2, 3]);
      polyline(ctx, f, g, scaled.tf, RMSPROP_COLOURS.tf, 2.5);
      polyline(ctx, f, g, scaled.ported, RMSPROP_COLOURS.ported, 2, [7, 4]);
      legend(ctx, f.box.left + 10, f.box.top + 12, [
        ["TensorFlow (RMSpropTF): eps inside √", RMSPROP_COLOURS.tf],
        ["PyTorch (RMSprop): eps copied, outside √", RMSPROP_COLOURS.literal, [2, 3]],
        ["PyTorch: ported √eps, outside √", RMSPROP_COLOURS.ported, [7, 4]],
      ].concat(data.samples ? [["measured gradients (ticks at the bottom)", "rgba(0, 0, 0, 0.35)"]] : []));
      var gap = 0, gapAt = 0, copied = 0, copiedAt = 0;
      g.forEach(function (x, i) {
        var r = curves.tf[i] / curves.ported[i], c = curves.literal[i] / curves.tf[i];
        if (r > gap) { gap = r; gapAt = x; }
        if (c > copied) { copied = c; copiedAt = x; }
      });
      readout.innerHTML = "TensorFlow's step ÷ the ported PyTorch step: at most <b>×" + gap.toFixed(2) + "</b> (at g = " + exponential(gapAt) +
        ") &nbsp;·&nbsp; eps copied literally: up to <b>×" + copied.toFixed(copied < 10 ? 2 : 0) + "</b> TensorFlow's step (at g = " + exponential(copiedAt) + ")";
      root.mnv3Curves = { grad_rms: g, eps: epsValues[state.eps], lr: rate, tf: scaled.tf, literal: scaled.literal, ported: scaled.ported };
      ready(root, { eps: epsValues[state.eps], lr: rate });
    }

    redraw();
  }

  // ---------------------------------------------------------------------------------------------
  // Chapter 3: an activation's histogram and the int8 grid over it
  // ---------------------------------------------------------------------------------------------

  // std::nearbyint in the default rounding mode: halves go to the even neighbour.
  function roundHalfEven(v) {
    var f = Math.floor(v), d = v - f;
    if (d < 0.5) return f;
    if (d > 0.5) return f + 1;
    return f % 2 === 0 ? f : f + 1;
  }

  // torch.fake_quantize_per_tensor_affine on the CPU, in float32 as its kernel computes:
  // (clamp(zero_point + nearbyint(x * (1 / scale)), quant_min, quant_max) - zero_point) * scale.
  // Returns the SQNR (dB) of the rounded values and the share of values clipped.
  function gridError(values, scale, zeroPoint, quantMin, quantMax) {
    var s = f32(scale), inverse = f32(1 / s), signal = 0, noise = 0, clipped = 0;
    for (var i = 0; i < values.length; i++) {
      var x = values[i], q = zeroPoint + roundHalfEven(f32(x * inverse));
      if (q < quantMin || q > quantMax) { clipped++; q = Math.min(Math.max(q, quantMin), quantMax); }
      var rounded = f32((q - zeroPoint) * s);
      signal += x * x;
      noise += (x - rounded) * (x - rounded);
    }
    return { sqnr_db: noise === 0 ? Infinity : 10 * Math.log10(signal / noise), clipped_share: clipped / values.length };
  }

  var SCALE_STEPS = 16;  // the scale slider moves by 2^(1/16) around the observer's scale

  function int8grid(root, data) {
    var values = Float32Array.from(data.values), observers = data.observers, qmin = data.quant_min, qmax = data.quant_max;
    var byName = {};
    observers.forEach(function (o) { byName[o.name] = o; });
    var state = { observer: observers[0].name, step: 0, zero_point: observers[0].zero_point };
    var chooser = select(root, "observer", observers.map(function (o) { return [o.name, o.name]; }), state.observer, function (v) {
      state.observer = v;
      state.step = 0;
      state.zero_point = byName[v].zero_point;
      scale.input.value = "0";
      zero.input.value = String(state.zero_point);
      scale.input.dispatchEvent(new Event("input"));  // refreshes the readout beside the slider
      zero.input.dispatchEvent(new Event("input"));
    });
    var scale = slider(root, "scale", { min: -3 * SCALE_STEPS, max: 3 * SCALE_STEPS, step: 1, value: 0, format: function (k) { return currentScale(k).toPrecision(4); } }, function (k) { state.step = k; redraw(); });
    var zero = slider(root, "zero point", { min: qmin, max: qmax, step: 1, value: state.zero_point, format: function (v) { return String(v); } }, function (v) { state.zero_point = v; redraw(); });
    var readout = el("div", { style: "margin:4px 0" });
    var chart = canvasFor(640, 300, 1, (data.title ? data.title + ": " : "") + "histogram of " + values.length.toLocaleString("en") + " of its " + data.total.toLocaleString("en") + " values (log counts), with the int8 grid");
    root.appendChild(row([chooser.node, scale.node, zero.node]));
    root.appendChild(readout);
    root.appendChild(chart.figure);

    function currentScale(k) { return byName[state.observer].scale * Math.pow(2, k / SCALE_STEPS); }

    // Fixed bins over everything any observer's grid or the values reach, so that the sliders move the grid over a still histogram.
    var low = Infinity, high = -Infinity;
    values.forEach(function (v) { low = Math.min(low, v); high = Math.max(high, v); });
    observers.forEach(function (o) { low = Math.min(low, o.scale * (qmin - o.zero_point)); high = Math.max(high, o.scale * (qmax - o.zero_point)); });
    var pad = 0.04 * (high - low), bins = 160, counts = new Float64Array(bins), width = (high - low + 2 * pad) / bins;
    low -= pad; high += pad;
    values.forEach(function (v) { counts[Math.min(bins - 1, Math.floor((v - low) / width))]++; });
    var peak = Math.log10(1 + Math.max.apply(null, counts));

    function redraw() {
      var s = currentScale(state.step), z = state.zero_point, ctx = chart.context;
      var result = gridError(values, s, z, qmin, qmax);
      var gridLow = s * (qmin - z), gridHigh = s * (qmax - z);
      clear(ctx);
      var f = frame(ctx, { left: 48, top: 10, width: 575, height: 230 }, [low, high], [0, peak * 1.05], false, false);
      var ticks = [], step = Math.pow(10, Math.floor(Math.log10((high - low) / 4)));
      for (var t = Math.ceil(low / step) * step; t <= high; t += step) ticks.push([t, String(Number(t.toPrecision(3)))]);
      axes(ctx, f, ticks, [], "value", "log₁₀(1 + count)");
      ctx.fillStyle = "rgba(76, 114, 176, 0.12)";
      var left = Math.max(f.x(gridLow), f.box.left), right = Math.min(f.x(gridHigh), f.box.left + f.box.width);
      if (right > left) ctx.fillRect(left, f.box.top, right - left, f.box.height);
      for (var b = 0; b < bins; b++) {
        if (!counts[b]) continue;
        var centre = low + (b + 0.5) * width, h = Math.log10(1 + counts[b]);
        ctx.fillStyle = centre < gridLow - s / 2 || centre > gridHigh + s / 2 ? "#d62728" : "#555555";
        ctx.fillRect(f.x(low + b * width), f.y(h), Math.max(1, f.x(low + (b + 1) * width) - f.x(low + b * width) - 0.5), f.y(0) - f.y(h));
      }
      // the levels: every one when they are at least 3 px apart, else every n-th
      var pixels = f.x(s) - f.x(0), every = Math.max(1, Math.ceil(3 / Math.max(pixels, 1e-9)));
      ctx.strokeStyle = "#4c72b0";
      ctx.lineWidth = 1;
      for (var q = qmin; q <= qmax; q += every) {
        var px = f.x(s * (q - z));
        if (px < f.box.left || px > f.box.left + f.box.width) continue;
        ctx.beginPath(); ctx.moveTo(px, f.box.top + f.box.height); ctx.lineTo(px, f.box.top + f.box.height - 7); ctx.stroke();
      }
      ctx.lineWidth = 2;
      [gridLow, gridHigh].forEach(function (edge) {
        var px = f.x(edge);
        if (px < f.box.left || px > f.box.left + f.box.width) return;
        ctx.beginPath(); ctx.moveTo(px, f.box.top); ctx.lineTo(px, f.box.top + f.box.height); ctx.stroke();
      });
      ctx.fillStyle = "#222222";
      ctx.fillText("levels " + qmin + "…" + qmax + (every > 1 ? " (every " + every + "th drawn)" : ""), f.box.left + 6, f.box.top + 14);
      var observer = byName[state.observer];
      readout.innerHTML = "SQNR <b>" + result.sqnr_db.toFixed(2) + " dB</b> &nbsp;·&nbsp; clipped <b>" + (100 * result.clipped_share).toFixed(3) + " %</b>" +
        " &nbsp;·&nbsp; grid [" + gridLow.toPrecision(4) + ", " + gridHigh.toPrecision(4) + "], step " + s.toPrecision(4) +
        " &nbsp;·&nbsp; <i>" + state.observer + "</i> chose scale " + observer.scale.toPrecision(4) + ", zero point " + observer.zero_point;
      root.mnv3Readout = { sqnr_db: result.sqnr_db, clipped_share: result.clipped_share, scale: s, zero_point: z, observer: state.observer };
      ready(root, { observer: state.observer, scale: s, zero_point: z });
    }

    redraw();
  }

  // ---------------------------------------------------------------------------------------------
  // SSDlite: default boxes per feature map, and the matches of a ground-truth box
  // ---------------------------------------------------------------------------------------------

  var SHAPE_COLOURS = ["#00bfff", "#ffd92f", "#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3"];
  var LEVEL_COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"];

  function defaultboxes(root, data) {
    var H = data.size[0], W = data.size[1], d = data.display, levels = data.levels;
    var offsets = [], total = 0;
    levels.forEach(function (level) { offsets.push(total); total += level.boxes.length / 4; });
    var centreCell = function (level) { return Math.floor(level.grid[0] / 2) * level.grid[1] + Math.floor(level.grid[1] / 2); };
    var state = { level: 0, cell: centreCell(levels[0]), shapes: {}, truth: data.default_truth === null ? "none" : String(data.default_truth) };
    levels[0].labels.forEach(function (_, k) { state.shapes[k] = true; });
    var level = select(root, "feature map", levels.map(function (l, i) {
      return [i, i + ": " + l.grid[0] + "×" + l.grid[1] + " cells of " + Number(l.cell.toFixed(1)) + " px"];
    }), 0, function (v) {
      state.level = Number(v);
      var lv = levels[state.level];
      cell.input.max = String(lv.grid[0] * lv.grid[1] - 1);
      cell.input.value = String(centreCell(lv));
      cell.input.dispatchEvent(new Event("input"));
    });
    var cell = slider(root, "cell", { min: 0, max: levels[0].grid[0] * levels[0].grid[1] - 1, step: 1, value: state.cell, format: function (i) {
      var g = levels[state.level].grid;
      return "row " + Math.floor(i / g[1]) + ", column " + (i % g[1]);
    } }, function (i) { state.cell = i; redraw(); });
    var shapes = levels[0].labels.map(function (label, k) {
      return checkbox(root, label, true, function (on) { state.shapes[k] = on; redraw(); }, SHAPE_COLOURS[k % SHAPE_COLOURS.length]).node;
    });
    var truth = select(root, "matches of", [["none", "no ground-truth box"]].concat(data.truth.map(function (t, j) {
      return [String(j), "box " + (j + 1) + ": " + t.label];
    })), state.truth, function (v) { state.truth = v; redraw(); });
    if (!data.truth.length) truth.input.disabled = true;
    var canvas = canvasFor(2 * W * d, 2 * H * d, 1, "the " + W + "×" + H + " input (dashed) with half its size around it: default boxes reach beyond the image");
    var caption = el("div", { style: "font-size:90%" });
    root.appendChild(row([level.node, cell.node]));
    root.appendChild(row(shapes));
    root.appendChild(row([truth.node]));
    root.appendChild(canvas.figure);
    root.appendChild(caption);
    var image = null;

    function px(v, size) { return (v + size / 2) * d; }

    function strokeBox(ctx, b, colour, width, dash) {
      ctx.strokeStyle = colour;
      ctx.lineWidth = width;
      ctx.setLineDash(dash || []);
      ctx.strokeRect(px(b[0], W), px(b[1], H), (b[2] - b[0]) * d, (b[3] - b[1]) * d);
      ctx.setLineDash([]);
    }

    function boxAt(lv, index) { var a = levels[lv].boxes; return [a[4 * index], a[4 * index + 1], a[4 * index + 2], a[4 * index + 3]]; }

    function redraw() {
      if (!image) return;
      var ctx = canvas.context, lv = levels[state.level], perCell = lv.labels.length;
      ctx.fillStyle = "#f4f4f4";
      ctx.fillRect(0, 0, canvas.canvas.width, canvas.canvas.height);
      ctx.drawImage(image, px(0, W), px(0, H), W * d, H * d);
      ctx.strokeStyle = "rgba(255, 255, 255, 0.45)";
      ctx.lineWidth = 1;
      for (var r = 1; r < lv.grid[0]; r++) { ctx.beginPath(); ctx.moveTo(px(0, W), px(r * H / lv.grid[0], H)); ctx.lineTo(px(W, W), px(r * H / lv.grid[0], H)); ctx.stroke(); }
      for (var c = 1; c < lv.grid[1]; c++) { ctx.beginPath(); ctx.moveTo(px(c * W / lv.grid[1], W), px(0, H)); ctx.lineTo(px(c * W / lv.grid[1], W), px(H, H)); ctx.stroke(); }
      strokeBox(ctx, [0, 0, W, H], "#000000", 1, [5, 4]);
      var row_ = Math.floor(state.cell / lv.grid[1]), col = state.cell % lv.grid[1];
      ctx.fillStyle = "rgba(255, 255, 0, 0.35)";
      ctx.fillRect(px(col * W / lv.grid[1], W), px(row_ * H / lv.grid[0], H), W / lv.grid[1] * d, H / lv.grid[0] * d);
      var drawn = [];
      for (var k = 0; k < perCell; k++) {
        if (!state.shapes[k]) continue;
        strokeBox(ctx, boxAt(state.level, state.cell * perCell + k), SHAPE_COLOURS[k % SHAPE_COLOURS.length], 2);
        drawn.push(offsets[state.level] + state.cell * perCell + k);
      }
      var text = drawn.length + " default boxes of cell (" + row_ + ", " + col + ") on map " + state.level;
      var matched = [];
      if (state.truth !== "none") {
        var t = data.truth[Number(state.truth)], perLevel = levels.map(function () { return 0; });
        t.matched.forEach(function (index, m) {
          var at = 0;
          while (at + 1 < levels.length && index >= offsets[at + 1]) at++;
          var shape = (index - offsets[at]) % levels[at].labels.length;
          if (!state.shapes[shape]) return;
          perLevel[at]++;
          matched.push(index);
          strokeBox(ctx, boxAt(at, index - offsets[at]), LEVEL_COLOURS[at % LEVEL_COLOURS.length], 1.5);
        });
        strokeBox(ctx, t.box, "#000000", 3);
        strokeBox(ctx, t.box, "#ffffff", 1.5);
        var best = t.iou.length ? Math.max.apply(null, t.iou) : 0;
        text += " · ground-truth box " + (Number(state.truth) + 1) + " (" + t.label + "): " + matched.length + " of its " + t.matched.length +
          " matched default boxes have the shapes ticked (IoU ≥ " + data.threshold + ", or its best one; best IoU " + best.toFixed(2) + "), by map: " +
          perLevel.map(function (n, i) { return i + ": " + n; }).join(", ");
      }
      caption.textContent = text;
      root.setAttribute("data-drawn-boxes", drawn.join(","));
      root.setAttribute("data-matched-boxes", matched.join(","));
      ready(root, { level: state.level, cell: state.cell, truth: state.truth });
    }

    loadImage(data.image).then(function (loaded) { image = loaded; redraw(); });
  }

  var KINDS = {
    detection: detection, segmentation: segmentation, architecture: architecture, calibration: calibration,
    rmsprop: rmsprop, int8grid: int8grid, defaultboxes: defaultboxes,
  };

  // Draw the explorer described by `data` (its `kind` and payload) inside `element`.
  function mount(element, data) {
    var draw = KINDS[data.kind];
    if (!draw) throw new Error("mnv3lib explorer: unknown kind " + JSON.stringify(data.kind));
    element.textContent = "";
    element.setAttribute("data-kind", data.kind);
    draw(element, data);
  }

  return { mount: mount, nms: nms, batchedNms: batchedNms, filterCandidates: filterCandidates, asFloat32: asFloat32, decodeRle: decodeRle, gridError: gridError, PALETTE: PALETTE };
})();
