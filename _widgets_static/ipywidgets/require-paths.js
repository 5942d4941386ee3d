// Make requirejs resolve the bundled @jupyter-widgets AMD modules to this folder, so that the
// font-awesome fonts embedded by webpack load from here instead of "<page dir>/@jupyter-widgets/...".
(function () {
  var base = document.currentScript.src.replace(/\?.*$/, '').replace(/\/[^/]*$/, '');
  window.requirejs.config({ paths: { '@jupyter-widgets/html-manager/dist': base, '@jupyter-widgets': base } });
})();
