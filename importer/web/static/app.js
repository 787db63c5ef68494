// A little plain JavaScript where the page must move; every form also works without it.
(function () {
  "use strict";

  function show(el, text) {
    el.textContent = text;
    el.hidden = !text;
  }

  // 1. Upload: drop a file on the zone, see the upload's progress, errors in one line.
  var upload = document.getElementById("upload");
  if (upload && window.XMLHttpRequest && window.FormData) {
    var input = document.getElementById("file");
    var drop = document.getElementById("drop");
    var progress = document.getElementById("upload-progress");
    var bar = document.getElementById("upload-bar");
    var percent = document.getElementById("upload-percent");
    var error = document.getElementById("upload-error");
    var limit = Number(upload.getAttribute("data-limit"));
    var busy = false;

    var send = function () {
      var file = input.files && input.files[0];
      if (!file || busy) { return; }
      if (limit && file.size > limit) {
        show(error, "leadimport: the file is larger than " + upload.getAttribute("data-limit-text") +
          ", the most this page takes; split it, or import it from the command line");
        return;
      }
      show(error, "");
      busy = true;
      progress.hidden = false;
      var xhr = new XMLHttpRequest();
      xhr.open("POST", upload.getAttribute("action"));
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          bar.value = Math.round(100 * e.loaded / e.total);
          percent.textContent = bar.value;
        }
      });
      xhr.addEventListener("load", function () {
        busy = false;
        if (xhr.status === 200 && xhr.responseURL.indexOf("/uploads/") !== -1) {
          window.location.assign(xhr.responseURL);  // the map page the upload redirected to
        } else {
          progress.hidden = true;
          show(error, (xhr.responseText || "the upload failed").split("\n")[0]);
        }
      });
      xhr.addEventListener("error", function () {
        busy = false;
        progress.hidden = true;
        show(error, "the upload failed: the server closed the connection (is the file too large?)");
      });
      xhr.send(new FormData(upload));
    };
    upload.addEventListener("submit", function (e) { e.preventDefault(); send(); });
    ["dragenter", "dragover"].forEach(function (name) {
      drop.addEventListener(name, function (e) { e.preventDefault(); drop.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      drop.addEventListener(name, function () { drop.classList.remove("over"); });
    });
    drop.addEventListener("drop", function (e) {
      e.preventDefault();
      if (e.dataTransfer && e.dataTransfer.files.length) {
        input.files = e.dataTransfer.files;
        send();
      }
    });
  }

  // 2. Map: each change of the table shows the YAML it makes in the advanced view.
  var mapping = document.getElementById("mapping-form");
  if (mapping && document.getElementById("map-table")) {
    var text = document.getElementById("mapping");
    var original = document.getElementById("original");
    var problem = document.getElementById("form-error");
    var pending = null;
    var refresh = function () {
      if (text.value !== original.value) {
        show(problem, "The YAML was edited by hand: it wins over the table.");
        return;
      }
      fetch(mapping.getAttribute("data-preview"), { method: "POST", body: new FormData(mapping) })
        .then(function (r) { return r.json(); })
        .then(function (answer) {
          show(problem, answer.error || "");
          if (answer.mapping !== undefined && answer.mapping !== null) {
            text.value = answer.mapping;
            original.value = answer.mapping;
          }
        })
        .catch(function () { show(problem, "The YAML view could not be updated; Check still reads the table."); });
    };
    var changed = function (e) {
      if (e.target === text) { return; }
      var row = e.target.closest && e.target.closest("tr[data-column]");
      if (row && e.target.classList.contains("choice")) {
        row.classList.toggle("ignored", e.target.value === "ignore");
        row.classList.toggle("not-data", e.target.value !== "data");
      }
      clearTimeout(pending);
      pending = setTimeout(refresh, 250);
    };
    mapping.addEventListener("change", changed);
    mapping.addEventListener("input", changed);
  }

  // 5. Watch: poll the run's status every second; the run goes on without the page.
  var watch = document.getElementById("watch");
  if (watch) {
    var url = watch.getAttribute("data-status");
    var duration = function (s) {
      if (s === null || s === undefined) { return "…"; }
      if (s < 60) { return s + " s"; }
      var m = Math.floor(s / 60);
      return m < 60 ? m + " min " + (s % 60) + " s" : Math.floor(m / 60) + " h " + (m % 60) + " min";
    };
    var update = function (s) {
      ["done", "success", "failed", "retries", "throttled"].forEach(function (k) {
        document.getElementById(k).textContent = s[k];
      });
      document.getElementById("total").textContent = s.total === null ? "?" : s.total;
      document.getElementById("rate").textContent = s.rate === null ? "…" : s.rate;
      document.getElementById("eta").textContent = duration(s.eta_s);
      var bar = document.getElementById("bar");
      if (s.total) { bar.max = s.total; bar.value = Math.min(s.done, s.total); }
    };
    var poll = function () {
      fetch(url, { cache: "no-store" }).then(function (r) { return r.json(); }).then(function (s) {
        update(s);
        if (s.state === "running") { setTimeout(poll, 1000); } else { window.location.reload(); }
      }).catch(function () { setTimeout(poll, 2000); });
    };
    poll();
  }
})();
