// Copy buttons and the language switch's return address; everything works
// without this file too.
document.addEventListener("click", function (e) {
  var b = e.target.closest("[data-copy]");
  if (!b) return;
  var input = document.getElementById(b.getAttribute("data-copy"));
  input.select();
  if (navigator.clipboard) navigator.clipboard.writeText(input.value);
  else document.execCommand("copy");
});
document.querySelectorAll("a[data-back]").forEach(function (a) {
  a.href += "?back=" + encodeURIComponent(location.pathname + location.search);
});
// Jobs: while a friend import runs, poll its progress and move
// the bar; when it ends, reload to show the result. Without JavaScript a
// reload shows the same.
(function () {
  var box = document.querySelector("#import[data-poll]");
  if (!box || !window.fetch) return;
  var url = box.getAttribute("data-poll");
  var page = box.getAttribute("data-page");
  function set(id, text) {
    var el = document.getElementById(id);
    if (el) el.textContent = text || "";
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) throw new Error("status " + r.status);
        return r.json();
      })
      .then(function (d) {
        if (!d.running) {
          // A reload of a form's answer would post again: go to the page.
          if (location.pathname === page && !location.search) location.reload();
          else location.replace(page + "#jobs");
          return;
        }
        var bar = document.getElementById("import-bar");
        if (bar && d.total > 0) {
          bar.max = d.total;
          bar.value = d.done;
          bar.textContent = d.progress;
        }
        set("import-progress", d.progress);
        set("import-rate", d.rate);
        set("import-eta", d.eta);
        setTimeout(poll, 1000);
      })
      .catch(function () {
        setTimeout(poll, 5000);
      });
  }
  setTimeout(poll, 1000);
})();

// messaging: the composer's schedule field is read in the
// browser's time zone; a running broadcast's report follows its progress.
document.querySelectorAll("[data-tz]").forEach(function (i) {
  i.value = -new Date().getTimezoneOffset();
});
// A form marked data-once submits once: a double click must not answer a
// friend twice.
document.querySelectorAll("form[data-once]").forEach(function (f) {
  f.addEventListener("submit", function () {
    f.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
  });
});
(function () {
  var rep = document.querySelector("[data-progress][data-active]");
  if (!rep) return;
  function poll() {
    fetch(rep.getAttribute("data-progress"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (d) {
        rep.querySelectorAll("[data-field]").forEach(function (el) {
          var v = d[el.getAttribute("data-field")];
          if (v === undefined) return;
          el.textContent = v;
          if (v) el.hidden = false;
        });
        var p = document.getElementById("progress");
        if (p) p.value = d.percent;
        var cf = document.getElementById("cancel-form");
        if (cf && !d.cancelable) cf.remove(); // sending has begun
        if (d.active) setTimeout(poll, 1000);
        else location.reload(); // the finished report, without the cancel button
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1000);
})();
// An upload over the server's limit is refused before it is sent, so
// the form keeps what was typed (a refused upload of megabytes would
// otherwise be sent in full first, or cut off by the server).
document.querySelectorAll("input[type=file][data-max-bytes]").forEach(function (input) {
  var max = parseInt(input.getAttribute("data-max-bytes"), 10);
  var note = input.parentNode.parentNode.querySelector("[data-file-error]");
  input.addEventListener("change", function () {
    var f = input.files && input.files[0];
    var msg = f && f.size > max ? input.getAttribute("data-too-large") : "";
    input.setCustomValidity(msg);
    if (note) {
      note.textContent = msg;
      note.hidden = !msg;
    }
    if (msg) input.reportValidity();
  });
});
