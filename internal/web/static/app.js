// Twofold's only script: Copy and Print for backup codes. Every other part of the pages works
// without JavaScript (Download is a plain data: link). Loaded from our origin, so the
// Content-Security-Policy "script-src 'self'" holds; no inline code.
(function () {
  "use strict";

  function codesOf(id) {
    var list = document.getElementById(id);
    if (!list) {
      return "";
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
})();
