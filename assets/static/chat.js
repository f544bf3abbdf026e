// Chat: while a conversation is open, ask for messages newer than the
// newest shown and add them below, so the admin never answers blind.
// Every 3 s while the page is seen and used; slower (up to 30 s) when
// nothing happens, the tab is hidden or the server does not answer.
// Without this file a reload shows the same.
(function () {
  var box = document.querySelector("#messages[data-poll]");
  if (!box || !window.fetch) return;
  var url = box.getAttribute("data-poll");
  var after = box.getAttribute("data-after") || "0";
  var FAST = 3000, SLOW = 30000, IDLE = 120000;
  var delay = FAST, timer = null, lastActive = Date.now();
  var live = document.getElementById("chat-live");
  if (live) live.hidden = false;

  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(poll, ms);
  }
  function next() {
    if (document.hidden) return SLOW;
    if (Date.now() - lastActive > IDLE) return Math.min(delay * 2, SLOW);
    return FAST;
  }
  function nearBottom() {
    return window.innerHeight + window.scrollY >= document.body.scrollHeight - 200;
  }
  function poll() {
    fetch(url + "?after=" + encodeURIComponent(after), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      redirect: "error" // signed out: stop quietly, the next click shows the sign-in
    })
      .then(function (r) {
        if (!r.ok) throw new Error("status " + r.status);
        return r.json();
      })
      .then(function (d) {
        if (d.reload) {
          location.reload();
          return;
        }
        if (d.count > 0) {
          var stick = nearBottom();
          var empty = document.getElementById("chat-empty");
          if (empty) empty.remove();
          box.insertAdjacentHTML("beforeend", d.html);
          after = String(d.last);
          lastActive = Date.now();
          if (stick) box.lastElementChild.scrollIntoView({ block: "end" });
        }
        delay = next();
        schedule(delay);
      })
      .catch(function () {
        delay = Math.min(delay * 2, SLOW);
        schedule(delay);
      });
  }
  ["keydown", "pointerdown", "scroll"].forEach(function (ev) {
    window.addEventListener(ev, function () {
      var was = delay;
      lastActive = Date.now();
      if (!document.hidden && was > FAST) {
        delay = FAST;
        schedule(0);
      }
    }, { passive: true });
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      lastActive = Date.now();
      delay = FAST;
      schedule(0);
    }
  });
  schedule(FAST);
})();
