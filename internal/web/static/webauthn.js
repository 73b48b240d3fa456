// Twofold's script for security keys and passkeys (SPEC §9), loaded only on the pages that offer
// one: Verification Required, enrolment and the profile's Security tab. A key can only be used
// through the browser's navigator.credentials, so this is the one part of the pages that needs
// JavaScript; without it (or in a browser without WebAuthn) the key buttons stay hidden and the
// page says why, and the code forms work as before.
//
// A button marked data-webauthn asks the JSON API's begin endpoint (data-begin) for the options,
// turns their base64url fields into bytes, calls navigator.credentials.create or get
// (data-webauthn="create" or "get"), turns the browser's credential back into JSON with
// base64url fields and sends it in the hidden field "credential" of the button's form, whose
// page finishes the ceremony through the service and answers as the code's page does (the next
// step, the backup codes, a refusal in the page's alert). Loaded from our origin, no inline code.
(function () {
  "use strict";

  var usable = !!(window.PublicKeyCredential && navigator.credentials && window.isSecureContext);

  function toBytes(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) {
      s += "=";
    }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function toBase64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // decodeOptions turns the server's options (binary fields base64url) into what
  // navigator.credentials takes.
  function decodeOptions(pk) {
    pk.challenge = toBytes(pk.challenge);
    if (pk.user && typeof pk.user.id === "string") {
      pk.user.id = toBytes(pk.user.id);
    }
    ["excludeCredentials", "allowCredentials"].forEach(function (list) {
      (pk[list] || []).forEach(function (c) {
        c.id = toBytes(c.id);
      });
    });
    return pk;
  }

  // encodeCredential is the credential as the server's finish takes it (base64url fields).
  function encodeCredential(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: toBase64url(cred.rawId),
      type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toBase64url(r.clientDataJSON) }
    };
    if (cred.authenticatorAttachment) {
      out.authenticatorAttachment = cred.authenticatorAttachment;
    }
    if (r.attestationObject) {
      out.response.attestationObject = toBase64url(r.attestationObject);
      if (r.getTransports) {
        out.response.transports = r.getTransports();
      }
    } else {
      out.response.authenticatorData = toBase64url(r.authenticatorData);
      out.response.signature = toBase64url(r.signature);
      if (r.userHandle) {
        out.response.userHandle = toBase64url(r.userHandle);
      }
    }
    return out;
  }

  // say shows a refusal in the alert area of the button's form, as the pages show theirs.
  function say(form, text) {
    var alert = form.querySelector(".alert");
    if (!alert) {
      alert = document.createElement("div");
      alert.className = "alert";
      alert.setAttribute("role", "alert");
      alert.appendChild(document.createElement("p"));
      form.insertBefore(alert, form.firstChild);
    }
    alert.querySelector("p").textContent = text;
    alert.hidden = false;
  }

  // stepPages are the pages of the sign-in steps that the API names in "next".
  var stepPages = {
    enroll: "/signin/enroll", enroll_optional: "/signin/enroll", verify: "/signin/verify",
    change_password: "/signin/password", done: "/profile"
  };

  // begin asks the API for the options; a refusal that names another step goes to its page.
  function begin(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body || {})
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (resp.ok && data.publicKey) {
          return data.publicKey;
        }
        var e = data.error || {};
        var next = e.next || data.next;
        if (resp.status === 409 && next && stepPages[next]) {
          window.location.assign(stepPages[next]);
        }
        if (resp.status === 401 && e.code === "not_signed_in") {
          window.location.assign("/signin?m=expired");
        }
        throw new Error(e.message || "The security key could not be used. Please try again.");
      });
    });
  }

  // fieldValues is begin's body: data-fields lists "api:field" pairs (or a name used for both).
  function fieldValues(form, pairs) {
    var body = {};
    pairs.forEach(function (p) {
      var parts = p.split(":");
      var f = form.elements[parts[parts.length - 1]];
      if (f) {
        body[parts[0]] = f.value;
      }
    });
    return body;
  }

  function fieldName(p) {
    var parts = p.split(":");
    return parts[parts.length - 1];
  }

  function run(button) {
    var form = button.form;
    var create = button.getAttribute("data-webauthn") === "create";
    var fields = (button.getAttribute("data-fields") || "").split(" ").filter(Boolean);
    if (form.reportValidity && !form.reportValidity()) {
      return;
    }
    button.disabled = true;
    begin(button.getAttribute("data-begin"), fieldValues(form, fields)).then(function (pk) {
      pk = decodeOptions(pk);
      return create ? navigator.credentials.create({ publicKey: pk }) : navigator.credentials.get({ publicKey: pk });
    }).then(function (cred) {
      if (!cred) {
        throw new Error("No security key answered.");
      }
      form.elements.credential.value = JSON.stringify(encodeCredential(cred));
      // A box of another form that this one carries ("Remember this device").
      Array.prototype.forEach.call(form.querySelectorAll("input[data-copy-of]"), function (copy) {
        var box = document.getElementById(copy.getAttribute("data-copy-of"));
        copy.value = box && box.checked ? "1" : "";
      });
      // The typed password went with begin; the finish form sends the credential alone.
      fields.forEach(function (p) {
        var f = form.elements[fieldName(p)];
        if (f) {
          f.disabled = true;
        }
      });
      form.submit();
    }).catch(function (err) {
      button.disabled = false;
      var text = err && err.message ? err.message : String(err);
      if (err && (err.name === "NotAllowedError" || err.name === "AbortError")) {
        text = "The security key was not used: the browser's request was cancelled or timed out. Please try again.";
      } else if (err && err.name === "InvalidStateError") {
        text = "This security key is registered already.";
      }
      say(form, text);
    });
  }

  var buttons = document.querySelectorAll("[data-webauthn]");
  for (var i = 0; i < buttons.length; i++) {
    (function (button) {
      if (!usable) {
        return;
      }
      button.hidden = false;
      button.addEventListener("click", function (e) {
        e.preventDefault();
        run(button);
      });
    })(buttons[i]);
  }
  var notes = document.querySelectorAll("[data-webauthn-needs]");
  for (var j = 0; j < notes.length; j++) {
    if (usable) {
      notes[j].hidden = true;
    } else if (window.PublicKeyCredential || navigator.credentials) {
      notes[j].textContent = "This browser cannot use a security key on this page (it needs a secure connection). Use a code instead.";
    }
  }
  var shows = document.querySelectorAll("[data-webauthn-show]");
  for (var k = 0; k < shows.length; k++) {
    shows[k].hidden = !usable;
  }
})();
