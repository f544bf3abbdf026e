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
