/* The rating page's beacons (docs/integrity.md): what the page saw of its browser, and whether a person used it.
 *
 * "visible" is sent once the page is shown, with what a browser under automation gives away: navigator.webdriver,
 * a headless user agent or client hint, a zero-size window, a software-only WebGL renderer. "interaction" is sent
 * on the first sign of a person: a trusted pointer path (several moves, not one synthetic event), a key, a touch,
 * a wheel. Nothing is sent for events a script dispatched (isTrusted is false for those).
 */
(function () {
  "use strict";
  var el = document.getElementById("opencsat-signal");
  if (!el) return;

  function send(fields) {
    var body = new FormData();
    body.append("nonce", el.dataset.nonce);
    body.append("click", el.dataset.click);
    Object.keys(fields).forEach(function (name) { body.append(name, String(fields[name])); });
    if (!(navigator.sendBeacon && navigator.sendBeacon(el.dataset.url, body))) {
      fetch(el.dataset.url, {method: "POST", body: body, keepalive: true, credentials: "same-origin"});
    }
  }

  function renderer() {
    try {
      var gl = document.createElement("canvas").getContext("webgl");
      if (!gl) return "none";
      var info = gl.getExtension("WEBGL_debug_renderer_info");
      return String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER)).slice(0, 100);
    } catch (e) {
      return "none";
    }
  }

  function headless() {
    var brands = (navigator.userAgentData && navigator.userAgentData.brands) || [];
    return /HeadlessChrome/.test(navigator.userAgent) ||
      brands.some(function (b) { return /Headless/i.test(b.brand); }) ? 1 : 0;
  }

  function onVisible() {
    if (document.visibilityState !== "visible") return false;
    document.removeEventListener("visibilitychange", onVisible);
    send({
      signal: "visible",
      webdriver: navigator.webdriver ? 1 : 0,
      headless: headless(),
      window: window.outerWidth + "x" + window.outerHeight,
      renderer: renderer(),
      focus: document.hasFocus() ? 1 : 0
    });
    return true;
  }
  if (!onVisible()) document.addEventListener("visibilitychange", onVisible);

  var moves = [], done = false, events = ["pointermove", "keydown", "touchstart", "wheel"];
  function human() {
    if (done) return;
    done = true;
    events.forEach(function (name) { window.removeEventListener(name, onEvent); });
    send({signal: "interaction"});
  }
  function onEvent(event) {
    if (!event.isTrusted) return;
    if (event.type !== "pointermove" || event.pointerType === "touch") return human();
    var last = moves[moves.length - 1];
    if (!last || last[0] !== event.clientX || last[1] !== event.clientY) moves.push([event.clientX, event.clientY]);
    if (moves.length >= 4) human();  // a path: a mouse that moved through several points, not a jump
  }
  events.forEach(function (name) { window.addEventListener(name, onEvent, {passive: true}); });
})();
