// Freshworks platform 3.0 front-end app: show OpenCSAT's sidebar page for the open ticket in an iframe.
// Each agent pastes their own sidebar link once (issued by the admin: `flask --app plugin sidebar issue` or
// POST /api/v1/sidebar-links); it is kept in this browser only, expires within 30 days and can be revoked.
(function () {
  "use strict";

  var KEY = "opencsat.sidebar.link";

  function show(text) {
    var status = document.getElementById("status");
    status.textContent = text;
    status.hidden = false;
  }

  function tokenFrom(link) {
    try { return new URL(link).searchParams.get("token") || ""; } catch (e) { return ""; }
  }

  function open(serviceUrl, ticketId, token) {
    var url = new URL(serviceUrl.replace(/\/+$/, "") + "/sidebar/freshdesk");
    url.searchParams.set("token", token);
    url.searchParams.set("ticket", String(ticketId));
    var frame = document.getElementById("opencsat");
    frame.src = url.toString();
    frame.hidden = false;
    document.getElementById("status").hidden = true;
    document.getElementById("setup").hidden = true;
  }

  app.initialized().then(function (client) {
    return Promise.all([client.iparams.get(), client.data.get("ticket")]);
  }).then(function (results) {
    var serviceUrl = results[0].service_url;
    var ticketId = results[1].ticket.id;
    var token = window.localStorage.getItem(KEY);
    if (token) { return open(serviceUrl, ticketId, token); }
    show("Paste your OpenCSAT sidebar link (ask your admin for one).");
    var form = document.getElementById("setup");
    form.hidden = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var pasted = tokenFrom(document.getElementById("link").value.trim());
      if (!pasted) { return show("That is not an OpenCSAT sidebar link."); }
      window.localStorage.setItem(KEY, pasted);
      open(serviceUrl, ticketId, pasted);
    });
  }).catch(function () {
    show("OpenCSAT could not load: check the app's URL setting.");
  });
})();
