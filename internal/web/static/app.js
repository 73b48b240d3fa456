// Twofold's only script: Copy and Print for backup codes and the enrolment key (Copy for an
// application's new secret), Done held until the codes are saved, and the Regenerate dialog's
// focus and Escape. Every other part of the pages works without JavaScript (Download is a plain
// data: link). Loaded from our origin, so the Content-Security-Policy "script-src 'self'" holds;
// no inline code.
(function () {
  "use strict";

  function codesOf(id) {
    var list = document.getElementById(id);
    if (!list) {
      return "";
    }
    if (list.tagName === "CODE") { // a key: shown in groups of four, copied without spaces
      return list.textContent.replace(/\s+/g, "");
    }
    var codes = list.querySelectorAll("code");
    var out = [];
    for (var i = 0; i < codes.length; i++) {
      out.push(codes[i].textContent.trim());
    }
    return out.join("\n") + "\n";
  }

  function say(text) {
    var status = document.getElementById("copy-status");
    if (status) {
      status.textContent = text;
    }
  }

  // copyText uses the Clipboard API where the page is a secure context, else a selected
  // textarea and the older copy command.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try {
        ok = document.execCommand("copy");
      } catch (e) {
        ok = false;
      }
      document.body.removeChild(area);
      if (ok) {
        resolve();
      } else {
        reject(new Error("copy refused"));
      }
    });
  }

  var copyButtons = document.querySelectorAll("[data-copy]");
  for (var i = 0; i < copyButtons.length; i++) {
    (function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        copyText(codesOf(button.getAttribute("data-copy"))).then(
          function () { say("Copied."); },
          function () { say("Copying is not allowed here: select the codes and copy them yourself."); }
        );
      });
    })(copyButtons[i]);
  }

  var printButtons = document.querySelectorAll("[data-print]");
  for (var j = 0; j < printButtons.length; j++) {
    printButtons[j].hidden = false;
    printButtons[j].addEventListener("click", function () {
      window.print();
    });
  }

  // Done stays disabled until the codes are saved: the box ticked, or Copy, Download or Print
  // used (which tick it). Without JavaScript the box is required by the form instead.
  var saved = document.getElementById("saved");
  var done = document.getElementById("done");
  if (saved && done) {
    var sync = function () {
      done.disabled = !saved.checked;
    };
    var tick = function () {
      saved.checked = true;
      sync();
    };
    saved.addEventListener("change", sync);
    var savers = document.querySelectorAll("[data-copy=codes], #download, [data-print]");
    for (var k = 0; k < savers.length; k++) {
      savers[k].addEventListener("click", tick);
    }
    sync();
  }

  // The Regenerate dialog (shown by CSS while it is the address's #regenerate, or open after a
  // refused code) is modal: opening it takes focus to its code field, Escape closes it and
  // gives focus back to the button that opened it.
  var dialog = document.getElementById("regenerate");
  if (dialog) {
    var opener = document.getElementById("regenerate-open");
    var isOpen = function () {
      return dialog.classList.contains("open") || window.location.hash === "#regenerate";
    };
    var focusCode = function () {
      if (isOpen()) {
        var field = dialog.querySelector("input:not([type=hidden])");
        if (field) {
          field.focus();
        }
      }
    };
    window.addEventListener("hashchange", focusCode);
    focusCode();
    document.addEventListener("keydown", function (e) {
      if (e.key !== "Escape" || !isOpen()) {
        return;
      }
      dialog.classList.remove("open");
      if (window.location.hash === "#regenerate") {
        // A new fragment (not replaceState, which leaves :target as it was) hides the dialog.
        window.location.hash = "";
      }
      if (opener) {
        opener.focus();
      }
    });
  }
})();
