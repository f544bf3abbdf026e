// Copy buttons and the language switch's return address; everything works
// without this file too.
document.addEventListener("click", function (e) {
  var b = e.target.closest("[data-copy]");
  if (!b) return;
  var input = document.getElementById(b.getAttribute("data-copy"));
  input.select();
  // The button says "Copied" for a moment once the text is on the
  // clipboard, so the admin knows the press did something.
  function done() {
    var label = b.getAttribute("data-copied");
    if (!label) return;
    if (!b.hasAttribute("data-label")) b.setAttribute("data-label", b.textContent);
    b.textContent = label;
    b.classList.add("copied");
    clearTimeout(b.copiedTimer);
    b.copiedTimer = setTimeout(function () {
      b.textContent = b.getAttribute("data-label");
      b.classList.remove("copied");
    }, 2000);
  }
  function fallback() { if (document.execCommand("copy")) done(); }
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(input.value).then(done, fallback);
  else fallback();
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

// A block marked data-refresh (the link-URL job while it runs) is
// re-read from its page every 3 s and replaced, until the new block no
// longer asks for it: the rest of the page, and anything typed there,
// stays. Without JavaScript a reload shows the same.
(function () {
  var box = document.querySelector("[data-refresh][id]");
  if (!box || !window.fetch || !window.DOMParser) return;
  var url = box.getAttribute("data-refresh");
  var id = box.id;
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" }, redirect: "error" })
      .then(function (r) {
        if (!r.ok) throw new Error("status " + r.status);
        return r.text();
      })
      .then(function (html) {
        var next = new DOMParser().parseFromString(html, "text/html").getElementById(id);
        var cur = document.getElementById(id);
        if (!next || !cur) return;
        cur.replaceWith(next);
        if (next.hasAttribute("data-refresh")) setTimeout(poll, 3000);
      })
      .catch(function () {
        setTimeout(poll, 15000);
      });
  }
  setTimeout(poll, 3000);
})();

// messaging: a running broadcast's report follows its progress.
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
        // A scheduled broadcast is only waited for (the page shows no bar):
        // when it starts, or ends, the page is shown again as it now is.
        if (d.active && !(rep.getAttribute("data-status") === "scheduled" && d.status !== "scheduled")) setTimeout(poll, every);
        else location.reload(); // the finished report, without the cancel button
      })
      .catch(function () { setTimeout(poll, Math.max(every, 5000)); });
  }
  var every = parseInt(rep.getAttribute("data-interval"), 10) || 1000;
  setTimeout(poll, every);
})();

// Forms marked data-busy wait for LINE or HubSpot: the pressed button
// says so (data-busy's text and a spinner) and a second press sends
// nothing. A disabled button's name and value would not travel with the
// form, so the pressed one's go in a hidden field.
document.querySelectorAll("form[data-busy]").forEach(function (f) {
  f.addEventListener("submit", function (e) {
    if (f.hasAttribute("data-sent")) { e.preventDefault(); return; }
    f.setAttribute("data-sent", "");
    var b = e.submitter || f.querySelector("button[type=submit],button:not([type])");
    if (b && b.name) {
      var h = document.createElement("input");
      h.type = "hidden";
      h.name = b.name;
      h.value = b.value;
      h.setAttribute("data-held", "");
      f.appendChild(h);
    }
    f.querySelectorAll("button:not([disabled])").forEach(function (x) { x.disabled = true; x.setAttribute("data-held", ""); });
    if (b) {
      b.setAttribute("data-label", b.textContent);
      b.classList.add("busy");
      b.setAttribute("aria-busy", "true");
      b.textContent = f.getAttribute("data-busy");
    }
  });
});
// After Back the page may come from the browser's cache as it was left:
// the form is usable again.
window.addEventListener("pageshow", function (e) {
  if (!e.persisted) return;
  document.querySelectorAll("form[data-sent]").forEach(function (f) {
    f.removeAttribute("data-sent");
    f.querySelectorAll("input[data-held]").forEach(function (x) { x.remove(); });
    f.querySelectorAll("button[data-held]").forEach(function (x) {
      x.disabled = false;
      x.removeAttribute("data-held");
      x.classList.remove("busy");
      x.removeAttribute("aria-busy");
      if (x.hasAttribute("data-label")) x.textContent = x.getAttribute("data-label");
    });
  });
});

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
// Menu: the count of conversations waiting for an answer follows new
// messages while any page is open: asked every 20 s while the tab is
// shown, never while it is hidden (asked again the moment it is shown),
// less often (up to 5 min) while the server does not answer. Without
// this file each page load shows the count.
(function () {
  var link = document.querySelector("#nav-chats[data-count-url]");
  if (!link || !window.fetch) return;
  var url = link.getAttribute("data-count-url");
  var EVERY = 20000, MAX = 300000;
  var delay = EVERY, timer = null;
  function show(n, label) {
    var badge = document.getElementById("unanswered-count");
    if (n > 0 && !badge) {
      badge = document.createElement("span");
      badge.className = "badge";
      badge.id = "unanswered-count";
      link.appendChild(document.createTextNode(" "));
      link.appendChild(badge);
    }
    if (!badge) return;
    if (n > 0) {
      badge.textContent = String(n);
      badge.title = label;
      badge.setAttribute("aria-label", label);
      badge.hidden = false;
    } else {
      badge.hidden = true;
    }
  }
  function schedule(ms) {
    clearTimeout(timer);
    timer = null;
    if (!document.hidden) timer = setTimeout(poll, ms);
  }
  function poll() {
    fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      redirect: "error" // signed out: stop quietly, the next click shows the sign-in
    })
      .then(function (r) {
        if (!r.ok) throw new Error("status " + r.status);
        return r.json();
      })
      .then(function (d) {
        show(d.count, d.label);
        delay = EVERY;
        schedule(delay);
      })
      .catch(function () {
        delay = Math.min(delay * 2, MAX);
        schedule(delay);
      });
  }
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
    } else {
      schedule(0);
    }
  });
  schedule(delay);
})();
