/* The gate page: scan a voucher's QR code with the device camera (html5-qrcode), from a picture,
   or type it; each scan is posted to /api/v1/redemptions and answered in big green or red. */
(function () {
  "use strict";

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function nonce() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return String(Date.now()) + Math.random().toString(16).slice(2);
  }

  function when(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    if (isNaN(d.getTime())) return iso;
    var lang = document.documentElement.lang === "en" ? "en-GB" : "zh-CN";
    return d.toLocaleString(lang, { timeZone: "Asia/Shanghai", hour12: false });
  }

  function init() {
    var root = document.querySelector("[data-gate]");
    if (!root) return;
    var msg = root.dataset;
    var gateInput = document.getElementById("gate-name");
    var result = document.getElementById("result");
    var title = result.querySelector("[data-result-title]");
    var detail = result.querySelector("[data-result-detail]");
    var cameraStatus = root.querySelector("[data-camera-status]");
    var startButton = root.querySelector('[data-action="start"]');
    var stopButton = root.querySelector('[data-action="stop"]');
    var scanner = null;
    var busy = false;
    var last = { code: "", at: 0 };

    function show(ok, heading, text) {
      result.hidden = false;
      result.classList.toggle("ok", ok);
      result.classList.toggle("bad", !ok);
      result.dataset.result = ok ? "ok" : "bad";
      title.textContent = (ok ? "✔ " : "✘ ") + heading;
      detail.textContent = text;
      result.scrollIntoView({ block: "nearest" });
    }

    function describe(body) {
      var d = body.error ? body.error.details || {} : body;
      var parts = [];
      if (d.member_name) parts.push(d.member_name);
      if (d.title) parts.push(d.title);
      if (d.day) parts.push(d.day);
      if (body.error && body.error.code === "already_redeemed" && d.redeemed_at) {
        parts.push(msg.msgUsed.replace("{when}", when(d.redeemed_at)).replace("{gate}", d.gate || ""));
      }
      return parts.join(" · ");
    }

    function redeem(code) {
      code = (code || "").trim();
      if (!code || busy) return;
      // The camera sees the same code many times a second: one scan per code every few seconds.
      var now = Date.now();
      if (code === last.code && now - last.at < 4000) return;
      last = { code: code, at: now };
      busy = true;
      fetch("/api/v1/redemptions", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ code: code, gate: gateInput.value, nonce: nonce() }),
      })
        .then(function (r) {
          return r.json().then(function (body) { return { ok: r.ok, body: body }; });
        })
        .then(function (res) {
          var heading = res.ok ? res.body.message || msg.msgOk : res.body.error.message;
          show(res.ok, heading, describe(res.body));
        })
        .catch(function () { show(false, msg.msgNetwork, ""); })
        .then(function () { busy = false; });
    }

    function getScanner() {
      // Vouchers are QR codes only: trying every 1D barcode format too can read a noisy frame as
      // some barcode, and post a code that was never shown (a red "invalid voucher" at the gate).
      if (!scanner) {
        scanner = new window.Html5Qrcode("reader", {
          verbose: false,
          formatsToSupport: [window.Html5QrcodeSupportedFormats.QR_CODE],
        });
      }
      return scanner;
    }

    startButton.addEventListener("click", function () {
      cameraStatus.textContent = "";
      getScanner()
        .start(
          { facingMode: "environment" },
          { fps: 10, qrbox: function (w, h) { var s = Math.floor(Math.min(w, h) * 0.8); return { width: s, height: s }; } },
          redeem,
          function () {}
        )
        .then(function () {
          startButton.hidden = true;
          stopButton.hidden = false;
          cameraStatus.textContent = msg.msgScanning;
          root.dataset.camera = "on";
        })
        .catch(function (err) { cameraStatus.textContent = msg.msgCamera + err; });
    });

    stopButton.addEventListener("click", function () {
      if (!scanner) return;
      scanner.stop().then(function () {
        startButton.hidden = false;
        stopButton.hidden = true;
        cameraStatus.textContent = "";
        root.dataset.camera = "off";
      });
    });

    root.querySelector('[data-action="file"]').addEventListener("change", function (event) {
      var file = event.target.files && event.target.files[0];
      if (!file) return;
      var s = getScanner();
      var scan = function () {
        return s.scanFile(file, false).then(function (code) { last.code = ""; redeem(code); });
      };
      (s.isScanning ? s.stop().then(scan) : scan()).catch(function (err) {
        show(false, String(err), "");
      });
    });

    root.querySelector("[data-manual]").addEventListener("submit", function (event) {
      event.preventDefault();
      var input = event.target.elements.namedItem("code");
      last.code = "";
      redeem(input.value);
      input.value = "";
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
