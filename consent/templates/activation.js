(function () {
  // Client-side activation of what prior blocking kept inert, once the server says a purpose
  // is granted (the state POST /_privacy/consent answers with) or the visitor asks to load one
  // embed once. The server stays the authority: nothing here grants anything by itself.
  if (window.consentgate) return;
  var d = document;
  var current = d.currentScript;
  // A page whose CSP allows inline scripts by nonce: scripts created here carry the same one.
  var nonce = current ? current.nonce || current.getAttribute("nonce") || "" : "";
  // Where choices are posted: the gateway's prefix is configurable.
  var url = (current && current.getAttribute("data-consentgate-url")) || "/_privacy/consent";
  // Under an enforced CSP from the gateway the page's policy allows only what was granted when
  // it was served: a new grant takes effect by loading the page again (gateway/csp/policy.py).
  var reload = !!(current && current.hasAttribute("data-consentgate-reload"));
  // The elements and URL attributes prior blocking parks in `data-X` (gateway/stages/
  // prior_blocking.py URL_ATTRIBUTES, ATTRIBUTE_URLS), by lowercase local name; scripts are
  // recreated instead (see activate). `applet`, `meta` refresh, `<style>` elements and what
  // is inside a srcdoc frame are served active from the next page on.
  var S = "src", H = "href xlink:href", B = "background", P = "ping", X = "src srcset";
  var URLS = {iframe: "src srcdoc", frame: S, embed: S, object: "data codebase", img: X,
    image: X + " " + H, feimage: H, use: H, input: S, source: X, track: S, audio: S,
    video: "src poster", link: "href imagesrcset", body: B, table: B, td: B, th: B, a: P,
    area: P};
  d.documentElement.className += " consentgate-js";

  function purposes(el) {
    return (el.getAttribute("data-consent") || "").split(/[\s,]+/).filter(Boolean);
  }

  // Every purpose the element names must be granted (an empty list never is: fail closed).
  function allowed(el, granted) {
    var ids = purposes(el);
    if (!ids.length) return false;
    for (var i = 0; i < ids.length; i++) if (granted[ids[i]] !== true) return false;
    return true;
  }

  function activateScript(el) {
    if ((el.getAttribute("type") || "").trim().toLowerCase() !== "text/plain") return;
    // A script element that was parsed inert never runs, even with a new type: HTML only
    // prepares a script when it is inserted, so a fresh element takes its place.
    var s = d.createElement("script");
    for (var i = 0; i < el.attributes.length; i++) {
      var a = el.attributes[i];
      if (/^(type|nonce|data-(type|src|href|xlink:href|consentgate))$/.test(a.name)) continue;
      s.setAttribute(a.name, a.value);
    }
    var type = el.getAttribute("data-type");
    if (type) s.setAttribute("type", type);
    // An SVG script fetches `href` (SVG 2 §15.2); an HTML one in its place uses `src`.
    var src = el.getAttribute("data-src") || el.getAttribute("data-href") ||
      el.getAttribute("data-xlink:href");
    if (src) s.setAttribute("src", src);
    if (!s.hasAttribute("src")) s.text = el.textContent;
    // Inserted scripts are async by default; keep document order unless the tag said async.
    if (!el.hasAttribute("async")) s.async = false;
    if (nonce) s.nonce = nonce;
    el.parentNode.replaceChild(s, el);
  }

  function activateElement(el) {
    // A neutralized `style` attribute waits in `data-consentgate-style`.
    var names = ((URLS[el.localName.toLowerCase()] || "") + " consentgate-style").split(" ");
    for (var i = 0; i < names.length; i++) {
      var n = names[i], v = el.getAttribute("data-" + n);
      if (n && v !== null) {
        el.removeAttribute("data-" + n);
        // SVG 2 §16.1.1: plain `href` replaces `xlink:href`.
        el.setAttribute({"xlink:href": "href", "consentgate-style": "style"}[n] || n, v);
      }
    }
    el.removeAttribute("data-consentgate");
    var key = el.getAttribute("data-consentgate-embed");
    if (key) {
      var holder = d.querySelector('[data-consentgate-for="' + key + '"]');
      if (holder) holder.parentNode.removeChild(holder);
      el.removeAttribute("hidden");
    }
    // A preload link is processed when inserted, not when its imagesrcset changes.
    if (el.localName === "link") el.replaceWith(el.cloneNode(true));
  }

  function activate(el) {
    if (el.localName === "script") activateScript(el);
    else activateElement(el);
  }

  // Activate exactly what `state.purposes` (the server's answer) now allows.
  function apply(state) {
    var granted = (state && state.purposes) || {};
    var inert = d.querySelectorAll("[data-consent]");
    var now = [];
    for (var i = 0; i < inert.length; i++) if (allowed(inert[i], granted)) now.push(inert[i]);
    if (reload && now.length) {
      window.location.reload();
      return;
    }
    for (var j = 0; j < now.length; j++) activate(now[j]);
  }

  function post(body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin", body: JSON.stringify(body),
      headers: {"Content-Type": "application/json", "Accept": "application/json"}
    }).then(function (r) {
      if (!r.ok) throw new Error("consent not recorded: " + r.status);
      return r.json();
    });
  }

  // Contextual consent on an embed placeholder: "once" loads that embed only (nothing is
  // recorded), "always" records the grant and activates everything it now allows.
  d.addEventListener("click", function (e) {
    var btn = e.target && e.target.closest ? e.target.closest("[data-consentgate-action]") : null;
    if (!btn) return;
    var holder = btn.closest("[data-consentgate-for]");
    if (!holder) return;
    var embed = d.querySelector('[data-consentgate-embed="' +
      holder.getAttribute("data-consentgate-for") + '"]');
    if (btn.getAttribute("data-consentgate-action") === "once") {
      if (embed) {
        activate(embed);
        embed.focus();
      }
      return;
    }
    var grant = {};
    var wanted = (holder.getAttribute("data-consentgate-purposes") || "").split(" ");
    wanted.filter(Boolean).forEach(function (p) { grant[p] = true; });
    btn.disabled = true;
    post({purposes: grant}).then(function (state) {
      if (state.gpc_confirmation_required) {
        // The browser's opt-out signal wins until confirmed (11 CCR §7025(c)(3)); the
        // preference center asks for that confirmation.
        var link = holder.querySelector("a[href]");
        if (link) window.location.assign(link.href);
        return;
      }
      apply(state);
      if (embed && embed.isConnected && !embed.hidden) embed.focus();
    }).catch(function () {
      btn.disabled = false;
    });
  });

  window.consentgate = {apply: apply, post: post};
})();
