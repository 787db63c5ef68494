// The watch page polls the run's status; the run goes on without the page.
(function () {
  "use strict";
  var watch = document.getElementById("watch");
  if (!watch) { return; }
  var url = watch.getAttribute("data-status");
  function show(s) {
    ["done", "success", "failed", "retries"].forEach(function (k) {
      document.getElementById(k).textContent = s[k];
    });
    document.getElementById("total").textContent = s.total === null ? "?" : s.total;
    var bar = document.getElementById("bar");
    if (s.total) { bar.max = s.total; bar.value = Math.min(s.done, s.total); }
  }
  function poll() {
    fetch(url, { cache: "no-store" }).then(function (r) { return r.json(); }).then(function (s) {
      show(s);
      if (s.state === "running") { setTimeout(poll, 500); } else { window.location.reload(); }
    }).catch(function () { setTimeout(poll, 2000); });
  }
  poll();
})();
