// The front-end of the in-browser explorers (mnv3lib/viz/browser_explorers.py): the book's networks run
// in the page with ONNX Runtime Web (WebAssembly, one thread) on what the reader draws.
//
// One classic script, evaluated once per explorer output. It defines `MNV3BrowserModels` and mounts the
// explorer whose element and data follow it. The first paint needs nothing but this script: the runtime
// (ort.wasm.min.mjs and its .wasm) and the model (.onnx with its .json manifest) load at the reader's
// first interaction. Explorers on one page share one runtime and one session per file
// (window.__mnv3BrowserModels).
//
// Test hooks: the explorer's element carries data-browser-model (its kind), data-ready-ms (first paint),
// data-state (idle, loading, ready, missing, error), data-runs (inferences done), data-busy and data-top1; its
// `mnv3` property gives the last run's pixels, input and outputs.
var MNV3BrowserModels = (function () {
  "use strict";

  var shared = window.__mnv3BrowserModels || (window.__mnv3BrowserModels = { runtimes: {}, models: {} });
  var f32 = Math.fround;
  var TOP = 5;

  // ---------------------------------------------------------------------------------------------
  // Where the files are: the built book's _static/mnv3-browser/, or a folder given by Python
  // ---------------------------------------------------------------------------------------------

  // Sphinx (7.2 and later) writes the way back to the book's root on <html data-content_root>;
  // older versions on the documentation_options script.
  function bookRoot() {
    var root = document.documentElement.getAttribute("data-content_root");
    if (root !== null) return root;
    var options = document.getElementById("documentation_options");
    return options && options.getAttribute("data-url_root");
  }

  function absolute(url) { return new URL(url, document.baseURI).href; }

  // {inBook, models, runtime} (absolute folder URLs), or null when the page cannot know where they are.
  function locate(data) {
    var root = bookRoot();
    if (root !== null && root !== undefined) {  // the built book: its own copy, never a CDN
      var assets = absolute(data.assets_url || root + "_static/" + data.runtime.folder + "/");
      return { inBook: true, models: assets + "models/", runtime: assets + "ort/" };
    }
    if (!data.assets_url) return null;
    var folder = absolute(data.assets_url);
    return { inBook: false, models: folder + "models/", runtime: absolute(data.runtime.url || folder + "ort/") };
  }

  function whatItNeeds(data) {
    var files = data.models.map(function (m) { return m.file + " (with " + manifestName(m.file) + ")"; });
    return "This explorer runs the network in your browser with ONNX Runtime Web " + data.runtime.version +
      ". It needs the runtime's files " + data.runtime.files.join(", ") + " (npm package onnxruntime-web) and the book's " +
      "exported model " + files.join(" and ") + ", which `make book` puts in _build/html/_static/" + data.runtime.folder +
      "/ (ort/ and models/). They are not on this page: open the chapter in the built or published book, or, in Jupyter " +
      "or Colab, pass assets_url= (a folder URL holding models/ and ort/) and, for the runtime from the package's CDN, " +
      "runtime_url=mnv3lib.viz.browser_explorers.CDN_RUNTIME_URL.";
  }

  function manifestName(file) { return file.replace(/\.onnx$/, ".json"); }

  // ---------------------------------------------------------------------------------------------
  // Loading: the runtime once per page, each model once per page
  // ---------------------------------------------------------------------------------------------

  function loadRuntime(url) {
    if (!shared.runtimes[url]) {
      shared.runtimes[url] = import(url + "ort.wasm.min.mjs").then(function (ort) {
        ort.env.wasm.numThreads = 1;  // no cross-origin isolation on GitHub Pages: no worker threads
        ort.env.wasm.proxy = false;
        ort.env.wasm.wasmPaths = url;
        return ort;
      }, function (error) {
        delete shared.runtimes[url];
        throw new Error("could not load ONNX Runtime Web from " + url + "ort.wasm.min.mjs (" + error.message + ")");
      });
    }
    return shared.runtimes[url];
  }

  function fetchOk(url) {
    return fetch(url).then(function (response) {
      if (!response.ok) throw new Error("could not load " + url + " (HTTP " + response.status + ")");
      return response;
    }, function (error) { throw new Error("could not load " + url + " (" + error.message + ")"); });
  }

  function loadModel(ort, folder, file) {
    var url = folder + file;
    if (!shared.models[url]) {
      shared.models[url] = fetchOk(folder + manifestName(file)).then(function (r) { return r.json(); }).then(function (manifest) {
        return fetchOk(url).then(function (r) { return r.arrayBuffer(); }).then(function (bytes) {
          if (bytes.byteLength !== manifest.bytes) throw new Error(url + " has " + bytes.byteLength + " bytes, its manifest says " + manifest.bytes);
          return ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
        }).then(function (session) { return { session: session, manifest: manifest, file: file }; });
      });
      shared.models[url].catch(function () { delete shared.models[url]; });
    }
    return shared.models[url];
  }

  // ---------------------------------------------------------------------------------------------
  // The book's evaluation transform, in float32 as TorchVision computes it
  // ---------------------------------------------------------------------------------------------

  // Python's round(): halves go to the even neighbour (TorchVision's CenterCrop rounds this way).
  function roundHalfEven(value) {
    var floor = Math.floor(value);
    if (value - floor !== 0.5) return Math.round(value);
    return floor % 2 === 0 ? floor : floor + 1;
  }

  // RGBA pixels of a size × size pad → a (1, 3, crop, crop) float32 batch, planar:
  // CenterCrop(crop), ToDtype(float32, scale=True) = pixel * float32(1 / 255), Normalize = (x - mean) / std.
  function preprocess(rgba, size, settings) {
    var crop = settings.crop_size, top = roundHalfEven((size - crop) / 2), left = top;
    var scale = f32(1 / 255), out = new Float32Array(3 * crop * crop);
    for (var c = 0; c < 3; c++) {
      var mean = f32(settings.mean[c]), std = f32(settings.std[c]);
      for (var y = 0; y < crop; y++) {
        for (var x = 0; x < crop; x++) {
          var value = f32(rgba[4 * ((y + top) * size + x + left) + c] * scale);
          out[(c * crop + y) * crop + x] = f32(f32(value - mean) / std);
        }
      }
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // Small DOM and drawing helpers
  // ---------------------------------------------------------------------------------------------

  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (key) {
      if (key === "style") node.style.cssText = attributes[key];
      else if (key === "text") node.textContent = attributes[key];
      else node.setAttribute(key, attributes[key]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child); });
    return node;
  }

  function labelled(name, input, extra) {
    input.setAttribute("data-control", name);
    return el("label", { style: "display:inline-flex; align-items:center; gap:4px; margin:2px 10px 2px 0; white-space:nowrap" }, [name, input, extra]);
  }

  function button(name, text, onClick, title) {
    var node = el("button", { type: "button", "data-control": name, title: title || text, style: "margin:2px 4px 2px 0; padding:1px 6px; cursor:pointer" }, [text]);
    node.addEventListener("click", onClick);
    return node;
  }

  function loadImage(uri) {
    return new Promise(function (resolve, reject) {
      var image = new Image();
      image.onload = function () { resolve(image); };
      image.onerror = function () { reject(new Error("could not decode an embedded image")); };
      image.src = uri;
    });
  }

  function pixelCanvas(width, height, cssWidth) {
    var canvas = el("canvas", { width: width, height: height, style: "image-rendering:pixelated; width:" + cssWidth + "px; height:" + Math.round(cssWidth * height / width) + "px; display:block" });
    return canvas;
  }

  function hexToRgb(hex) { var v = parseInt(hex.slice(1), 16); return [(v >> 16) & 255, (v >> 8) & 255, v & 255]; }

  function softmax(logits) {
    var max = -Infinity, i, sum = 0, out = new Array(logits.length);
    for (i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
    for (i = 0; i < logits.length; i++) { out[i] = Math.exp(logits[i] - max); sum += out[i]; }
    for (i = 0; i < logits.length; i++) out[i] /= sum;
    return out;
  }

  // The first index of the largest value, as torch.argmax.
  function argmax(values, offset, count, stride) {
    var best = 0, bestValue = -Infinity;
    for (var k = 0; k < count; k++) { var v = values[offset + k * stride]; if (v > bestValue) { bestValue = v; best = k; } }
    return best;
  }

  function median(values) {
    var sorted = values.slice().sort(function (a, b) { return a - b; }), n = sorted.length;
    return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }

  // A diverging blue–white–red rendering of one map, symmetric around 0 (the map's own largest |value|).
  function drawMap(canvas, values, offset, height, width) {
    var ctx = canvas.getContext("2d"), image = ctx.createImageData(width, height), peak = 0, i;
    for (i = 0; i < height * width; i++) peak = Math.max(peak, Math.abs(values[offset + i]));
    for (i = 0; i < height * width; i++) {
      var t = peak > 0 ? values[offset + i] / peak : 0;  // in [-1, 1]
      var r = t > 0 ? 255 : Math.round(255 * (1 + t)), b = t < 0 ? 255 : Math.round(255 * (1 - t)), g = Math.round(255 * (1 - Math.abs(t)));
      image.data[4 * i] = r; image.data[4 * i + 1] = g; image.data[4 * i + 2] = b; image.data[4 * i + 3] = 255;
    }
    ctx.putImageData(image, 0, 0);
    canvas.title = "largest |activation| " + peak.toPrecision(3);
  }

  // Top-5 bars: class name, probability bar, probability.
  function drawBars(container, classes, logits, colour) {
    var probabilities = softmax(logits), order = classes.map(function (_, i) { return i; });
    order.sort(function (a, b) { return logits[b] - logits[a] || a - b; });
    container.textContent = "";
    order.slice(0, TOP).forEach(function (c, rank) {
      var p = probabilities[c];
      container.appendChild(el("div", { style: "display:flex; align-items:center; gap:6px; margin:2px 0; font-weight:" + (rank ? "normal" : "bold") }, [
        el("span", { style: "width:70px; text-align:right", text: classes[c] }),
        el("span", { style: "display:inline-block; height:12px; background:" + colour + "; width:" + Math.max(1, Math.round(150 * p)) + "px" }),
        el("span", { style: "font-variant-numeric:tabular-nums", text: (100 * p).toFixed(1) + " %" }),
      ]));
    });
    return order[0];
  }

  // ---------------------------------------------------------------------------------------------
  // The drawing pad: brush, eraser (back to an image), stamps, and a starting image
  // ---------------------------------------------------------------------------------------------

  function makePad(size, scale, onChange, onFirstTouch) {
    var canvas = pixelCanvas(size, size, size * scale);
    canvas.setAttribute("data-panel", "pad");
    canvas.style.cursor = "crosshair";
    canvas.style.touchAction = "none";
    var ctx = canvas.getContext("2d", { willReadFrequently: true });
    var pad = { canvas: canvas, ctx: ctx, size: size, tool: "brush", brush: 4, colour: "#202020", eraseSource: null, stamp: null, stampSize: 24 };
    var last = null;

    function point(event) {
      var rect = canvas.getBoundingClientRect();
      return [(event.clientX - rect.left) * size / rect.width, (event.clientY - rect.top) * size / rect.height];
    }

    function paintStyle() {
      if (pad.tool === "erase" && pad.eraseSource) return ctx.createPattern(pad.eraseSource, "no-repeat");
      return pad.colour;
    }

    function dot(p) {
      ctx.fillStyle = paintStyle();
      ctx.beginPath();
      ctx.arc(p[0], p[1], pad.brush / 2, 0, 2 * Math.PI);
      ctx.fill();
    }

    pad.stampAt = function (p) {
      if (!pad.stamp) return;
      var s = pad.stampSize;
      ctx.drawImage(pad.colouredStamp(), p[0] - s / 2, p[1] - s / 2, s, s);
    };

    // The stamp's mask (its red channel) as the alpha of the current colour.
    pad.colouredStamp = function () {
      var source = pad.stamp, work = el("canvas", { width: source.width, height: source.height }), c = work.getContext("2d");
      c.drawImage(source, 0, 0);
      var image = c.getImageData(0, 0, source.width, source.height), rgb = hexToRgb(pad.colour);
      for (var i = 0; i < image.data.length; i += 4) { image.data[i + 3] = image.data[i]; image.data[i] = rgb[0]; image.data[i + 1] = rgb[1]; image.data[i + 2] = rgb[2]; }
      c.putImageData(image, 0, 0);
      return work;
    };

    canvas.addEventListener("pointerdown", function (event) {
      event.preventDefault();
      onFirstTouch();
      var p = point(event);
      if (pad.tool === "stamp") { pad.stampAt(p); onChange(true); return; }
      canvas.setPointerCapture(event.pointerId);
      last = p;
      dot(p);
      onChange(false);
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!last) return;
      var p = point(event);
      ctx.strokeStyle = paintStyle();
      ctx.lineWidth = pad.brush;
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      ctx.beginPath();
      ctx.moveTo(last[0], last[1]);
      ctx.lineTo(p[0], p[1]);
      ctx.stroke();
      last = p;
      onChange(false);
    });
    function end() { if (last) { last = null; onChange(true); } }
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);

    pad.show = function (image) { ctx.clearRect(0, 0, size, size); ctx.drawImage(image, 0, 0, size, size); };
    pad.fill = function (colour) { ctx.fillStyle = colour; ctx.fillRect(0, 0, size, size); };
    pad.pixels = function () { return ctx.getImageData(0, 0, size, size).data; };
    return pad;
  }

  // The centre crop the model sees, framed on the pad (outside it dimmed).
  function cropFrame(size, crop, scale) {
    var inset = roundHalfEven((size - crop) / 2) * scale;
    return el("div", { style: "position:absolute; left:" + inset + "px; top:" + inset + "px; width:" + crop * scale + "px; height:" + crop * scale +
      "px; box-shadow:0 0 0 " + inset + "px rgba(255,255,255,0.45); outline:1px dashed #555; pointer-events:none", title: "what the network sees: the centre " + crop + "×" + crop + " crop" });
  }

  // ---------------------------------------------------------------------------------------------
  // An explorer's life: first paint, loading on the first interaction, one inference at a time
  // ---------------------------------------------------------------------------------------------

  function lifecycle(root, data, status) {
    var life = { models: null, ort: null, runs: 0, pending: false, busy: false, run: null };
    var where = locate(data);

    function setState(state, message) {
      root.setAttribute("data-state", state);
      status.textContent = message;
      status.style.color = state === "error" || state === "missing" ? "#b00020" : "#333";
    }

    life.start = function () {
      if (root.getAttribute("data-state") !== "idle") return;
      if (!where) { setState("missing", whatItNeeds(data)); return; }
      setState("loading", "loading ONNX Runtime Web " + data.runtime.version + " (WebAssembly, one thread) and " +
        data.models.map(function (m) { return m.file; }).join(" and ") + "…");
      var started = performance.now();
      loadRuntime(where.runtime).then(function (ort) {
        life.ort = ort;
        return Promise.all(data.models.map(function (m) { return loadModel(ort, where.models, m.file); }));
      }).then(function (models) {
        models.forEach(function (m) { checkManifest(data, m.manifest, m.file); });
        life.models = models;
        var kb = models.reduce(function (sum, m) { return sum + m.manifest.bytes; }, 0) / 1e6;
        setState("ready", "ready: loaded in " + ((performance.now() - started) / 1000).toFixed(1) + " s (models " + kb.toFixed(1) +
          " MB" + (where.inBook ? "" : ", from " + where.models) + "); ONNX Runtime Web " + data.runtime.version + ", WebAssembly, one thread");
        life.schedule();
      }).catch(function (error) { setState("error", String(error.message || error)); });
    };

    // Run the models on the current pixels; again afterwards if the drawing changed meanwhile.
    life.schedule = function () {
      if (!life.models) return;
      life.pending = true;
      if (life.busy) return;
      life.busy = true;
      life.pending = false;
      root.setAttribute("data-busy", "1");
      life.run(life.models, life.ort).then(function () {
        life.busy = false;
        life.runs++;
        root.setAttribute("data-runs", String(life.runs));
        if (life.pending) life.schedule();
        else root.setAttribute("data-busy", "0");
      }, function (error) { life.busy = false; setState("error", "inference failed: " + (error.message || error)); });
    };

    setState("idle", where ? "draw, or pick an image, to load the network (ONNX Runtime Web " + data.runtime.version + " and " +
      data.models.map(function (m) { return m.file; }).join(" and ") + ", once)" : whatItNeeds(data));
    if (!where) root.setAttribute("data-state", "missing");
    ["pointerdown", "keydown"].forEach(function (type) { root.addEventListener(type, life.start, true); });
    return life;
  }

  function checkManifest(data, manifest, file) {
    var problems = [];
    if (JSON.stringify(manifest.classes) !== JSON.stringify(data.classes)) problems.push("its classes differ");
    if (data.layers && JSON.stringify(manifest.layers) !== JSON.stringify(data.layers)) problems.push("its layers differ");
    if (JSON.stringify(manifest.preprocessing) !== JSON.stringify(data.preprocessing)) problems.push("its preprocessing differs");
    if (problems.length) throw new Error(file + " was exported from another model than this explorer shows (" + problems.join(", ") + "): rebuild the book (make book)");
  }

  function runModel(model, ort, input) {
    var shape = model.manifest.input.shape, feeds = {};
    feeds[model.manifest.input.name] = new ort.Tensor("float32", input, shape);
    var started = performance.now();
    return model.session.run(feeds).then(function (outputs) {
      var ms = performance.now() - started, byName = {};
      Object.keys(outputs).forEach(function (name) { byName[name] = { data: outputs[name].data, dims: outputs[name].dims }; });
      return { outputs: byName, ms: ms };
    });
  }

  function header(root, text) {
    root.textContent = "";
    root.appendChild(el("div", { style: "font-weight:bold; margin-bottom:4px", text: text }));
  }

  // ---------------------------------------------------------------------------------------------
  // Chapter 2: draw a shape; Chapter 3: float32 and int8 side by side
  // ---------------------------------------------------------------------------------------------

  function mountDrawing(root, data) {
    var compare = data.kind === "compare", size = data.preprocessing.resize_size, scale = data.scale;
    header(root, compare
      ? "Draw a shape: the float32 and int8 networks answer side by side, in your browser"
      : "Draw a shape: MobileNetV3-Small (Chapter 2's network) answers in your browser");
    var status = el("div", { "data-panel": "status", style: "font-size:90%; margin:2px 0 6px" });
    var life = lifecycle(root, data, status);
    var pad = makePad(size, scale, function () { life.schedule(); }, life.start);
    var starts = [];
    var padBox = el("div", { style: "position:relative; width:" + size * scale + "px; height:" + size * scale + "px; border:1px solid #999" }, [pad.canvas, cropFrame(size, data.preprocessing.crop_size, scale)]);

    var brush = el("input", { type: "range", min: 1, max: 12, step: 1, value: pad.brush, style: "width:90px" });
    brush.addEventListener("input", function () { pad.brush = Number(brush.value); });
    var colour = el("input", { type: "color", value: pad.colour });
    colour.addEventListener("input", function () { pad.colour = colour.value; });
    var startButtons = el("div", { style: "margin:4px 0" }, ["start from: "]);
    data.starts.forEach(function (start, i) {
      var thumb = el("img", { src: start.image, alt: start.name, style: "width:32px; height:32px; image-rendering:pixelated; vertical-align:middle" });
      var node = button("start " + start.name, "", function () { if (starts[i]) { pad.show(starts[i]); life.schedule(); } }, "start from the " + start.name);
      node.appendChild(thumb);
      startButtons.appendChild(node);
    });
    startButtons.appendChild(button("clear", "clear", function () { pad.fill("#ffffff"); life.schedule(); }, "a blank pad"));
    var tools = el("div", {}, [labelled("brush", brush), labelled("colour", colour)]);
    var left = el("div", { style: "max-width:" + (size * scale + 2) + "px" }, [padBox, startButtons, tools]);

    var panels = data.models.map(function (m, i) {
      var bars = el("div", { "data-panel": "top5 " + m.label });
      var timing = el("div", { "data-panel": "latency " + m.label, style: "font-size:90%; color:#555" });
      return { label: m.label, bars: bars, timing: timing, times: [], colour: i ? "#d62728" : "#1f77b4",
        node: el("div", { style: "min-width:260px" }, [el("div", { style: "font-weight:bold", text: compare ? m.label : "top-5 classes" }), bars, timing]) };
    });
    var verdict = el("div", { "data-panel": "agreement", style: "margin-top:6px" });
    var tally = { runs: 0, agree: 0 };
    var right = el("div", { style: "display:flex; flex-direction:column; gap:8px" }, panels.map(function (p) { return p.node; }).concat(compare ? [verdict] : []));
    root.appendChild(status);
    root.appendChild(el("div", { style: "display:flex; flex-wrap:wrap; gap:16px; align-items:flex-start" }, [left, right]));

    var strip = compare ? null : makeStrip(root, data);
    life.run = function (models, ort) {
      var pixels = pad.pixels(), input = preprocess(pixels, size, data.preprocessing), results = [];
      return models.reduce(function (chain, model) {
        return chain.then(function () { return runModel(model, ort, input).then(function (r) { results.push(r); }); });
      }, Promise.resolve()).then(function () {
        var tops = results.map(function (r, i) {
          var panel = panels[i], logits = r.outputs[models[i].manifest.outputs.logits].data;
          panel.times.push(r.ms);
          panel.timing.textContent = "inference " + r.ms.toFixed(1) + " ms (median of " + panel.times.length + ": " + median(panel.times).toFixed(1) + " ms)";
          return drawBars(panel.bars, data.classes, logits, panel.colour);
        });
        root.setAttribute("data-top1", tops.map(function (t) { return data.classes[t]; }).join(","));
        root.setAttribute("data-latency-ms", results.map(function (r) { return r.ms.toFixed(2); }).join(","));
        if (compare) showAgreement(verdict, tally, data.classes, results, models, tops);
        if (strip) strip.update(results[0].outputs, models[0].manifest);
        root.mnv3 = { pixels: pixels, input: input, outputs: results.map(function (r) { return r.outputs; }), files: models.map(function (m) { return m.file; }) };
      });
    };

    // decode the starting images, show the first: the first paint
    Promise.all(data.starts.map(function (s) { return loadImage(s.image); })).then(function (images) {
      starts = images;
      pad.show(images[0]);
      root.setAttribute("data-ready-ms", String(Math.round(performance.now())));
    });
  }

  function showAgreement(verdict, tally, classes, results, models, tops) {
    var a = results[0].outputs[models[0].manifest.outputs.logits].data, b = results[1].outputs[models[1].manifest.outputs.logits].data;
    var largest = 0, where = 0;
    for (var i = 0; i < a.length; i++) { var d = Math.abs(a[i] - b[i]); if (d > largest) { largest = d; where = i; } }
    var agree = tops[0] === tops[1];
    tally.runs++;
    tally.agree += agree ? 1 : 0;
    verdict.textContent = "";
    verdict.appendChild(el("div", { style: "font-weight:bold; color:" + (agree ? "#2ca02c" : "#d62728"), text: agree
      ? "top-1 agrees: both say " + classes[tops[0]]
      : "top-1 differs: float32 says " + classes[tops[0]] + ", int8 says " + classes[tops[1]] }));
    verdict.appendChild(el("div", { text: "largest logit difference: " + largest.toFixed(3) + " (" + classes[where] + ")" }));
    verdict.appendChild(el("div", { style: "font-size:90%; color:#555", text: "top-1 agreement so far: " + tally.agree + " of " + tally.runs + " inferences" }));
    verdict.setAttribute("data-largest-difference", String(largest));
  }

  // The strip: every layer of features, its activation and SE, a few channel maps; a chosen SE block's gates.
  function makeStrip(root, data) {
    var strip = el("div", { "data-panel": "strip", style: "display:flex; flex-wrap:wrap; gap:3px; margin-top:10px; align-items:flex-start" });
    var gatesTitle = el("div", { style: "font-size:90%; margin-top:6px" });
    var gatesCanvas = el("canvas", { width: 576, height: 70, "data-panel": "gates", style: "width:576px; max-width:100%; height:70px; border:1px solid #ccc; display:block" });
    var seLayers = [];
    data.layers.forEach(function (layer, i) { if (layer.se) seLayers.push(i); });
    var chosen = seLayers.length ? seLayers[0] : null;
    var blockNumber = function (i) { return data.layers[i].kind === "block" ? "block " + i : data.layers[i].kind; };
    var menu = el("select", {});
    seLayers.forEach(function (i) { menu.appendChild(el("option", { value: i, text: blockNumber(i) })); });
    menu.addEventListener("change", function () { choose(Number(menu.value)); });
    var columns = data.layers.map(function (layer, i) {
      var hs = layer.activation === "hardswish";
      var badges = el("div", { style: "font-size:10px; line-height:13px" }, [
        el("span", { title: hs ? "hard-swish" : "ReLU", style: "padding:0 2px; color:#fff; background:" + (hs ? "#ff7f0e" : "#1f77b4"), text: hs ? "HS" : "RE" }),
        layer.se ? el("span", { title: "squeeze-and-excite", style: "padding:0 2px; margin-left:2px; color:#fff; background:#9467bd", text: "SE" }) : null,
      ]);
      var name = layer.kind === "block" ? String(i) : layer.kind;
      var maps = el("div", { style: "display:flex; flex-direction:column; gap:2px; margin-top:2px" });
      var column = el("div", { "data-layer": i, title: describe(layer, i), style: "padding:2px; border:1px solid " + (layer.se ? "#9467bd" : "#ddd") +
        "; border-left-width:" + (layer.stage_start ? 3 : 1) + "px; cursor:" + (layer.se ? "pointer" : "default") + "; text-align:center; font-size:11px" }, [
        el("div", { style: "font-weight:bold", text: name }), badges, el("div", { style: "color:#777", text: "/" + layer.stride }), maps]);
      if (layer.se) column.addEventListener("click", function () { choose(i); });
      strip.appendChild(column);
      return { node: column, maps: maps, canvases: [] };
    });
    var legend = el("div", { style: "font-size:85%; color:#555; margin-top:4px", text:
      "Each column is a layer of features: the stem, the inverted-residual blocks, the last 1×1 conv (a thick left edge starts a stage, /s is " +
      "the output stride). HS: hard-swish, RE: ReLU, SE: squeeze-and-excite (click one for its gates). The maps are the channels that vary most over the " +
      "book's validation images, blue negative, red positive, each scaled to its own largest value." });
    root.appendChild(el("div", { style: "margin-top:10px; font-weight:bold", text: "inside the network" }));
    root.appendChild(strip);
    root.appendChild(legend);
    if (seLayers.length) root.appendChild(el("div", { style: "margin-top:6px" }, [labelled("SE block", menu), gatesTitle, gatesCanvas]));
    var lastOutputs = null, lastManifest = null;

    function describe(layer, i) {
      if (layer.kind !== "block") return (layer.kind === "stem" ? "stem: 3×3 conv, stride 2" : "last 1×1 conv") + ", " + layer.out_channels + " channels, hard-swish";
      return "block " + i + ": " + layer.kernel_size + "×" + layer.kernel_size + " depthwise, expanded to " + layer.expanded_channels + ", out " +
        layer.out_channels + (layer.se ? ", SE" : "") + ", " + layer.activation + (layer.residual ? ", residual" : "");
    }

    function choose(i) {
      chosen = i;
      menu.value = String(i);
      columns.forEach(function (c, k) { c.node.style.background = k === i ? "#f1eaf8" : ""; });
      drawGates();
    }

    function drawGates() {
      if (chosen === null) return;
      var layer = data.layers[chosen];
      var ctx = gatesCanvas.getContext("2d");
      ctx.clearRect(0, 0, gatesCanvas.width, gatesCanvas.height);
      if (!lastOutputs) { gatesTitle.textContent = blockNumber(chosen) + ": its SE gates appear once the network has run"; return; }
      var gate = lastManifest.outputs.gates.filter(function (g) { return g.layer === chosen; })[0];
      var values = lastOutputs[gate.name].data, n = values.length, width = gatesCanvas.width / n, h = gatesCanvas.height;
      var sum = 0, low = Infinity, high = -Infinity;
      ctx.fillStyle = "#9467bd";
      for (var c = 0; c < n; c++) {
        var v = values[c];
        sum += v; low = Math.min(low, v); high = Math.max(high, v);
        ctx.fillRect(c * width, h - v * h, Math.max(width - (width > 2 ? 1 : 0), 0.5), v * h);
      }
      gatesTitle.textContent = blockNumber(chosen) + ": the SE gate of each of its " + n + " expanded channels (hard-sigmoid, 0 to 1; " + layer.activation +
        "): mean " + (sum / n).toFixed(2) + ", min " + low.toFixed(2) + ", max " + high.toFixed(2);
      gatesCanvas.setAttribute("data-mean", String(sum / n));
    }

    if (chosen !== null) choose(chosen);
    return {
      update: function (outputs, manifest) {
        lastOutputs = outputs;
        lastManifest = manifest;
        manifest.outputs.maps.forEach(function (map, i) {
          var column = columns[map.layer], output = outputs[map.name], k = output.dims[1], h = output.dims[2], w = output.dims[3];
          if (!column.canvases.length) {
            for (var c = 0; c < k; c++) {
              var canvas = pixelCanvas(w, h, 36);
              canvas.setAttribute("data-panel", "map " + map.layer + "." + map.channels[c]);
              canvas.style.margin = "0 auto";
              column.maps.appendChild(canvas);
              column.canvases.push(canvas);
            }
          }
          for (var c2 = 0; c2 < k; c2++) drawMap(column.canvases[c2], output.data, c2 * h * w, h, w);
          column.canvases.forEach(function (canvas, c3) { canvas.title = "channel " + map.channels[c3] + ": " + canvas.title; });
        });
        drawGates();
      },
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Chapter 6: paint over a scene, LR-ASPP's mask follows
  // ---------------------------------------------------------------------------------------------

  function mountScene(root, data) {
    var size = data.preprocessing.resize_size, scale = data.scale;
    header(root, "Paint over a scene: LR-ASPP segments it in your browser");
    var status = el("div", { "data-panel": "status", style: "font-size:90%; margin:2px 0 6px" });
    var life = lifecycle(root, data, status);
    var pad = makePad(size, scale, function () { life.schedule(); }, life.start);
    pad.tool = "stamp";
    pad.colour = "#e377c2";
    pad.brush = 6;
    var scenes = [], stamps = [], current = 0;
    var original = el("canvas", { width: size, height: size });

    function showScene(i) {
      current = i;
      original.getContext("2d").drawImage(scenes[i], 0, 0);
      pad.eraseSource = original;
      pad.show(scenes[i]);
    }

    var sceneButtons = el("div", { style: "margin:4px 0" }, ["scene: "]);
    data.scenes.forEach(function (scene, i) {
      var node = button("scene " + scene.name, "", function () { if (scenes[i]) { showScene(i); life.schedule(); } }, scene.name);
      node.appendChild(el("img", { src: scene.image, alt: scene.name, style: "width:32px; height:32px; vertical-align:middle" }));
      sceneButtons.appendChild(node);
    });
    var tool = el("select", {});
    [["stamp", "add a shape"], ["brush", "paint"], ["erase", "erase (back to the scene)"]].forEach(function (t) { tool.appendChild(el("option", { value: t[0], text: t[1] })); });
    tool.addEventListener("change", function () { pad.tool = tool.value; });
    var shape = el("select", {});
    data.stamps.forEach(function (s, i) { shape.appendChild(el("option", { value: i, text: s.name })); });
    shape.addEventListener("change", function () { pad.stamp = stamps[Number(shape.value)]; });
    var stampSize = el("input", { type: "range", min: 8, max: 64, step: 1, value: pad.stampSize, style: "width:90px" });
    stampSize.addEventListener("input", function () { pad.stampSize = Number(stampSize.value); });
    var brush = el("input", { type: "range", min: 1, max: 20, step: 1, value: pad.brush, style: "width:90px" });
    brush.addEventListener("input", function () { pad.brush = Number(brush.value); });
    var colour = el("input", { type: "color", value: pad.colour });
    colour.addEventListener("input", function () { pad.colour = colour.value; });
    var controls = el("div", {}, [labelled("tool", tool), labelled("shape", shape), labelled("shape size", stampSize), labelled("brush", brush), labelled("colour", colour)]);

    var maskCanvas = pixelCanvas(size, size, size * scale);
    maskCanvas.setAttribute("data-panel", "mask");
    var legend = el("div", { "data-panel": "legend", style: "font-size:90%" });
    var timing = el("div", { "data-panel": "latency", style: "font-size:90%; color:#555" });
    var times = [];
    root.appendChild(status);
    root.appendChild(el("div", { style: "display:flex; flex-wrap:wrap; gap:12px; align-items:flex-start" }, [
      el("div", { style: "max-width:" + (size * scale + 2) + "px" }, [el("div", { style: "border:1px solid #999; width:" + size * scale + "px" }, [pad.canvas]), sceneButtons, controls]),
      el("div", {}, [el("div", { style: "border:1px solid #999; width:" + size * scale + "px" }, [maskCanvas]), legend, timing]),
    ]));

    life.run = function (models, ort) {
      var pixels = pad.pixels(), input = preprocess(pixels, size, data.preprocessing), model = models[0];
      return runModel(model, ort, input).then(function (r) {
        var logits = r.outputs[model.manifest.outputs.logits], classes = logits.dims[1], n = size * size;
        var mask = new Uint8Array(n), counts = new Array(classes).fill(0);
        for (var p = 0; p < n; p++) { mask[p] = argmax(logits.data, p, classes, n); counts[mask[p]]++; }
        drawMask(maskCanvas, pixels, mask, data.palette, size);
        legend.textContent = "";
        data.classes.forEach(function (name, c) {
          if (!counts[c] && c) return;
          legend.appendChild(el("span", { style: "margin-right:10px; white-space:nowrap" }, [
            el("span", { style: "color:" + (c ? data.palette[c % data.palette.length] : "#999"), text: "■ " }), name + " " + (100 * counts[c] / n).toFixed(1) + " %"]));
        });
        times.push(r.ms);
        timing.textContent = "inference " + r.ms.toFixed(1) + " ms (median of " + times.length + ": " + median(times).toFixed(1) + " ms)";
        root.setAttribute("data-latency-ms", r.ms.toFixed(2));
        root.setAttribute("data-scene", data.scenes[current].name);
        root.mnv3 = { pixels: pixels, input: input, outputs: [r.outputs], mask: mask, files: [model.file] };
      });
    };

    Promise.all(data.scenes.map(function (s) { return loadImage(s.image); }).concat(data.stamps.map(function (s) { return loadImage(s.mask); }))).then(function (images) {
      scenes = images.slice(0, data.scenes.length);
      stamps = images.slice(data.scenes.length);
      pad.stamp = stamps[0];
      showScene(0);
      var ctx = maskCanvas.getContext("2d");
      ctx.drawImage(scenes[0], 0, 0);
      root.setAttribute("data-ready-ms", String(Math.round(performance.now())));
    });
  }

  // The scene with each pixel's class blended in at half opacity (the background left as it is).
  function drawMask(canvas, pixels, mask, palette, size) {
    var ctx = canvas.getContext("2d"), image = ctx.createImageData(size, size), colours = palette.map(hexToRgb);
    for (var p = 0; p < size * size; p++) {
      var c = mask[p], rgb = colours[c % colours.length];
      for (var k = 0; k < 3; k++) image.data[4 * p + k] = c ? Math.round(pixels[4 * p + k] * 0.5 + rgb[k] * 0.5) : pixels[4 * p + k];
      image.data[4 * p + 3] = 255;
    }
    ctx.putImageData(image, 0, 0);
  }

  function mount(root, data) {
    root.setAttribute("data-browser-model", data.kind);
    root.setAttribute("data-runs", "0");
    if (data.kind === "scene") mountScene(root, data);
    else mountDrawing(root, data);
  }

  return { mount: mount, preprocess: preprocess };
})();
