// runbookd console: live updates. The pages work without this script; with it, the page region marked
// data-live="<stream URL>" refreshes (through htmx) when that server-sent event stream says something
// changed: /events for the incident list, /events?incident=<id> for one incident.
(function () {
  "use strict";
  var live = document.querySelector("[data-live]");
  if (!window.EventSource || !live) { return; }
  var source = new EventSource(live.getAttribute("data-live") || "/events");
  source.addEventListener("change", function () {
    document.body.dispatchEvent(new CustomEvent("runbookd:change"));
  });
  source.addEventListener("hello", function () { document.body.setAttribute("data-live-connected", "1"); });
}());
