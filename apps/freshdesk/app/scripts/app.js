// Freshworks platform 3.0 front-end app: read the installation parameters and the open ticket, then show
// OpenCSAT's sidebar page for it in an iframe. The page is signed by the account token (read-only panels).
(function () {
  "use strict";

  function show(text) {
    document.getElementById("status").textContent = text;
  }

  app.initialized().then(function (client) {
    return Promise.all([client.iparams.get(), client.data.get("ticket")]);
  }).then(function (results) {
    var iparams = results[0];
    var ticket = results[1].ticket;
    var url = new URL(iparams.service_url.replace(/\/+$/, "") + "/sidebar/freshdesk");
    url.searchParams.set("token", iparams.account_token);
    url.searchParams.set("ticket", String(ticket.id));
    var frame = document.getElementById("opencsat");
    frame.src = url.toString();
    frame.hidden = false;
    document.getElementById("status").hidden = true;
  }).catch(function () {
    show("OpenCSAT could not load: check the app's URL and sidebar token settings.");
  });
})();
