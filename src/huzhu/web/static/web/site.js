/* huzhu pages: small behaviours bound through data attributes (no inline scripts, so a strict
   Content-Security-Policy can be set). Alpine components use the CSP build: registered here. */
(function () {
  "use strict";

  document.addEventListener("alpine:init", function () {
    // Sign-in tabs: SMS code or password.
    window.Alpine.data("signin", function () {
      return {
        tab: "sms",
        get smsSelected() { return this.tab === "sms"; },
        get passwordSelected() { return this.tab === "password"; },
        showSms: function () { this.tab = "sms"; },
        showPassword: function () { this.tab = "password"; },
      };
    });
  });

  // Forms that ask before they submit (cancelling a booking).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    }
  });

  // Warm stations near me: the browser's position, then the server renders the list.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-locate")) return;
    event.preventDefault();
    var status = form.querySelector("[data-locate-status]");
    var say = function (key) { if (status) status.textContent = status.dataset[key] || ""; };
    if (!("geolocation" in navigator)) { say("msgUnsupported"); return; }
    say("msgLocating");
    navigator.geolocation.getCurrentPosition(
      function (pos) {
        form.elements.namedItem("lat").value = pos.coords.latitude.toFixed(6);
        form.elements.namedItem("lng").value = pos.coords.longitude.toFixed(6);
        if (status) status.textContent = "";
        form.dispatchEvent(new CustomEvent("located", { bubbles: true }));
      },
      function () { say("msgDenied"); },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
    );
  });
})();
