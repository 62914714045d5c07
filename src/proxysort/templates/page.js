(function () {
  "use strict";
  var root = document.documentElement;
  var tabs = Array.prototype.slice.call(document.querySelectorAll("nav.tabs a"));
  function show(id) {
    tabs.forEach(function (t) {
      var on = t.getAttribute("aria-controls") === id;
      t.setAttribute("aria-selected", on ? "true" : "false");
      document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
    });
  }
  // The fragment comes from a bookmark or a hand-edited link: a malformed one is ignored, never fatal.
  function fromHash() {
    var id = location.hash.slice(1);
    try { id = decodeURIComponent(id); } catch (err) { return null; }
    return id ? document.getElementById(id) : null;
  }
  tabs.forEach(function (t) {
    t.addEventListener("click", function (e) {
      e.preventDefault();
      show(t.getAttribute("aria-controls"));
      history.replaceState(null, "", "#" + t.getAttribute("aria-controls"));
    });
  });
  if (tabs.length) {
    var target = fromHash();
    var section = target && target.closest ? target.closest("section.concept") : null;
    show(section ? section.id : tabs[0].getAttribute("aria-controls"));
  }
  document.addEventListener("click", function (e) {
    var b = e.target.closest ? e.target.closest("button.doubt-only") : null;
    if (b === null) { return; }
    var on = b.getAttribute("aria-pressed") !== "true";
    b.setAttribute("aria-pressed", on ? "true" : "false");
    b.closest("section.concept").classList.toggle("only-doubt", on);
  });
  // Grids beyond their first thumbnails: data (never HTML) turned into elements when asked for.
  // item: [link, thumbnail, name, album, hover text, fit in words, fit class, also-in note, placed-by-you note]
  function span(cls, text, tag) {
    var s = document.createElement(tag || "span");
    if (cls) { s.className = cls; }
    s.textContent = text;
    return s;
  }
  function thumb(item, doubt) {
    var a = document.createElement("a");
    a.className = (doubt ? "t doubt" : "t") + (item[8] ? " placed" : "");
    a.href = item[0];
    a.title = item[4];
    var im = span("im", "");
    if (item[1]) {
      var img = document.createElement("img");
      img.src = item[1];
      img.alt = item[2];
      img.loading = "lazy";
      img.decoding = "async";
      img.width = 160;
      img.height = 160;
      im.appendChild(img);
    } else {
      im.appendChild(span("ph", item[2]));
    }
    if (item[5]) { im.appendChild(span("s " + item[6], item[5])); }
    a.appendChild(im);
    var cap = span("cap", "");
    cap.appendChild(span("", item[2], "b"));
    cap.appendChild(span("", item[3], "i"));
    if (item[7]) { cap.appendChild(span("also", item[7])); }
    if (item[8]) { cap.appendChild(span("placed", item[8])); }
    a.appendChild(cap);
    return a;
  }
  function expand(button) {
    var id = button.getAttribute("data-grid");
    var grid = document.getElementById(id);
    var data = document.getElementById(id + "-more");
    if (grid === null || data === null) { return; }
    var doubt = grid.classList.contains("doubtful");
    var frag = document.createDocumentFragment();
    var items = [];
    try { items = JSON.parse(data.textContent); } catch (err) { items = []; }
    items.forEach(function (item) { frag.appendChild(thumb(item, doubt)); });
    grid.appendChild(frag);
    data.remove();
    button.remove();
  }
  var buttons = Array.prototype.slice.call(document.querySelectorAll("button.more"));
  buttons.forEach(function (b) { b.addEventListener("click", function () { expand(b); }); });
  if ("IntersectionObserver" in window) {
    var seen = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        if (e.isIntersecting) { seen.unobserve(e.target); expand(e.target); }
      });
    }, {rootMargin: "600px"});
    buttons.forEach(function (b) { seen.observe(b); });
  }
  function broken(img) { img.closest(".t").classList.add("broken"); }
  document.addEventListener("error", function (e) {
    if (e.target.tagName === "IMG") { broken(e.target); }
  }, true);
  Array.prototype.forEach.call(document.images, function (img) {
    if (img.complete && img.naturalWidth === 0 && img.getAttribute("loading") !== "lazy") { broken(img); }
  });
  root.setAttribute("data-ready-ms", String(Math.round(performance.now())));
  window.addEventListener("load", function () {
    root.setAttribute("data-load-ms", String(Math.round(performance.now())));
  });
})();
