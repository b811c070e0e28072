// runbookd console: live updates. The pages work without this script; with it, a page region marked
// data-live refreshes (through htmx) when the server-sent event stream /events says something changed.
(function () {
  "use strict";
  if (!window.EventSource || !document.querySelector("[data-live]")) { return; }
  var source = new EventSource("/events");
  source.addEventListener("change", function () {
    document.body.dispatchEvent(new CustomEvent("runbookd:change"));
  });
  source.addEventListener("hello", function () { document.body.setAttribute("data-live-connected", "1"); });
}());
