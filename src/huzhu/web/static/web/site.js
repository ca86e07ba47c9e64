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
  // A station's position on the console: the device's own (GPS, WGS-84), as "longitude,latitude".
  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element && event.target.closest("[data-locate-here]");
    if (!button || !button.form) return;
    var form = button.form;
    var status = form.querySelector("[data-locate-here-status]");
    var say = function (key) { if (status) status.textContent = status.dataset[key] || ""; };
    if (!("geolocation" in navigator)) { say("msgUnsupported"); return; }
    say("msgLocating");
    navigator.geolocation.getCurrentPosition(
      function (pos) {
        form.elements.namedItem("position").value =
          pos.coords.longitude.toFixed(6) + "," + pos.coords.latitude.toFixed(6);
        var wgs = form.querySelector('input[name="crs"][value="wgs84"]');
        if (wgs) wgs.checked = true;
        say("msgDone");
      },
      function () { say("msgDenied"); },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 0 }
    );
  });

  // The opening moment (benefits page, 1月13日12时 in the seed): every card follows the server's
  // clock, not the phone's; it counts down, opens for booking at its opening time without a
  // reload, shows the places left and turns to 名额已约满 when they are gone. Waiting phones send
  // nothing before the opening; then one count every ~5 s while places remain (every ~30 s once
  // sold out, for places given back), spread at random so that a crowd does not poll in step.
  var OPEN_POLL_MS = 5000;
  var SOLD_OUT_POLL_MS = 30000;

  function startOpening() {
    var root = document.querySelector("[data-benefits]");
    var forms = Array.prototype.slice.call(document.querySelectorAll("form[data-opening]"));
    if (!root || !forms.length) return;
    // The page was made at the server's `serverNow`, just before its first byte reached the
    // phone: the phone's clock read then is its clock now, less the time since that byte came.
    var nav = performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
    var sinceFirstByte = nav && nav.responseStart ? performance.now() - nav.responseStart : 0;
    var offset = Number(root.dataset.serverNow) - (Date.now() - sinceFirstByte); // server − phone
    var serverNow = function () { return Date.now() + offset; };
    var places = {}; // activity id → places left, as counted when the page was made, then polled
    forms.forEach(function (form) {
      var p = document.getElementById("remaining-" + form.dataset.activity);
      var n = p && p.querySelector("[data-n]");
      if (!p) return;
      places[form.dataset.activity] = p.querySelector("[data-sold-out]").hidden && n ? Number(n.textContent) : 0;
    });
    var pollTimer = null;
    var tickTimer = null;

    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    var countdown = function (ms) {
      var s = Math.max(0, Math.ceil(ms / 1000));
      var days = Math.floor(s / 86400);
      s -= days * 86400;
      var clock = pad(Math.floor(s / 3600)) + ":" + pad(Math.floor(s / 60) % 60) + ":" + pad(s % 60);
      return (days ? days + root.dataset.labelDays + " " : "") + clock;
    };
    var stateOf = function (form, now) {
      if (now < Number(form.dataset.opensAt)) return "before";
      if (now >= Number(form.dataset.closesAt)) return "closed";
      var left = places[form.dataset.activity];
      if (form.dataset.fcfs && left !== undefined && left <= 0) return "soldOut";
      return "open";
    };

    function render() {
      var now = serverNow();
      var soonest = Infinity;
      forms.forEach(function (form) {
        var state = stateOf(form, now);
        var button = form.querySelector("[data-book]");
        if (form.dataset.state === "sending") return;
        var label = {
          before: button.dataset.labelBefore,
          open: button.dataset.labelOpen,
          soldOut: button.dataset.labelSoldOut,
          closed: button.dataset.labelClosed,
        }[state];
        if (button.textContent !== label) button.textContent = label;
        button.disabled = state !== "open";
        form.dataset.state = state;
        var box = form.querySelector("[data-countdown]");
        box.hidden = state !== "before";
        if (state === "before") {
          var ms = Number(form.dataset.opensAt) - now;
          box.querySelector("[data-countdown-left]").textContent =
            root.dataset.labelLeft + countdown(ms);
          soonest = Math.min(soonest, ms);
        }
      });
      // Each second on the second; in the last one, every few milliseconds up to the moment.
      var wait = soonest <= 1000 ? Math.max(5, Math.min(50, soonest)) : 1000 - (now % 1000) + 5;
      clearTimeout(tickTimer);
      tickTimer = setTimeout(render, wait);
    }

    function showPlaces(id, count) {
      var p = document.getElementById("remaining-" + id);
      if (!p) return;
      var counted = p.querySelector("[data-places]");
      var soldOut = p.querySelector("[data-sold-out]");
      if (counted.querySelector("[data-n]")) counted.querySelector("[data-n]").textContent = count.remaining;
      if (counted.querySelector("[data-q]")) counted.querySelector("[data-q]").textContent = count.quota;
      counted.hidden = count.remaining <= 0;
      soldOut.hidden = count.remaining > 0;
    }

    function schedule(immediately) {
      clearTimeout(pollTimer);
      pollTimer = null;
      var now = serverNow();
      var states = forms.map(function (form) { return stateOf(form, now); });
      var spread = 0.8 + Math.random() * 0.4;
      var delay;
      if (states.indexOf("open") >= 0) delay = immediately ? 0 : OPEN_POLL_MS * spread;
      else if (states.indexOf("soldOut") >= 0) delay = SOLD_OUT_POLL_MS * spread;
      else {
        var next = Infinity;
        forms.forEach(function (form, i) {
          if (states[i] === "before") next = Math.min(next, Number(form.dataset.opensAt));
        });
        if (next === Infinity) return; // every card closed: nothing left to follow
        delay = next - now + 1000 + Math.random() * 2000; // the first count 1–3 s after opening
      }
      pollTimer = setTimeout(poll, delay);
    }

    function poll() {
      if (document.hidden) { pollTimer = null; return; } // resumes when the page is seen again
      var ids = forms.map(function (form) { return form.dataset.activity; }).join(",");
      var sent = Date.now();
      fetch(root.dataset.poll + "?ids=" + ids, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (data) {
            offset = data.now - (sent + Date.now()) / 2;
            Object.keys(data.activities).forEach(function (id) {
              places[id] = data.activities[id].remaining;
              showPlaces(id, data.activities[id]);
            });
          }
          render();
          schedule(false);
        })
        .catch(function () { schedule(false); });
    }

    forms.forEach(function (form) {
      form.addEventListener("submit", function () {
        var button = form.querySelector("[data-book]");
        form.dataset.state = "sending"; // one tap, one booking: no second post
        window.setTimeout(function () { button.disabled = true; }, 0);
      });
    });
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && pollTimer === null) schedule(true);
    });
    render();
    schedule(false);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", startOpening);
  else startOpening();
  // Main lists on a phone (site.css, table.stack): each cell is shown under its column's name,
  // taken from the table's header when the template did not give one.
  function labelCells(root) {
    Array.prototype.forEach.call((root || document).querySelectorAll("table.stack"), function (table) {
      var names = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
        return th.textContent.trim();
      });
      Array.prototype.forEach.call(table.querySelectorAll("tbody tr"), function (tr) {
        Array.prototype.forEach.call(tr.children, function (td, i) {
          if (!td.dataset.label && names[i] && !td.hasAttribute("colspan")) td.dataset.label = names[i];
        });
      });
    });
  }
  document.addEventListener("htmx:afterSwap", function (event) { labelCells(event.target); });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { labelCells(); });
  else labelCells();
})();
