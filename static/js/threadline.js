// Threadline's behaviour besides htmx. The Content-Security-Policy admits no inline script
// or on*= handler, so templates mark elements with data attributes and this file acts.
(function () {
  "use strict";

  // The viewer chose to load this message's remote images: its page was served with a
  // policy that admits web images, and only this message's images get their URL back.
  function loadChosenRemoteImages(root) {
    root.querySelectorAll("[data-load-remote-images] img[data-remote-src]").forEach(function (img) {
      img.src = img.dataset.remoteSrc;
      img.removeAttribute("data-remote-src");
    });
  }

  // --- ⋯ menus: <details data-menu> (templates/candidates/_threads.html) -------------
  // A disclosure, so the keyboard already opens it (Enter/Space on its summary) and Tab
  // reaches its buttons. Here: one open at a time, Escape closes it and gives the focus
  // back to its summary, a click or Tab elsewhere closes it, and the arrow keys move
  // between its buttons.

  function openMenus() {
    return document.querySelectorAll("details[data-menu][open]");
  }

  function menuButtons(menu) {
    return Array.prototype.slice.call(menu.querySelectorAll(".menu-items button:not([disabled])"));
  }

  // "toggle" does not bubble: listen while it is captured.
  document.addEventListener(
    "toggle",
    function (event) {
      var menu = event.target;
      if (!(menu instanceof HTMLDetailsElement) || !menu.matches("[data-menu]") || !menu.open) {
        return;
      }
      openMenus().forEach(function (other) {
        if (other !== menu) other.open = false;
      });
    },
    true
  );

  document.addEventListener("click", function (event) {
    openMenus().forEach(function (menu) {
      if (!menu.contains(event.target)) menu.open = false;
    });
  });

  document.addEventListener("focusout", function (event) {
    // Only when focus went somewhere known: a click on a menu's own button may briefly
    // leave no focused element, and must not close the menu under the pointer.
    var menu = event.target.closest && event.target.closest("details[data-menu][open]");
    if (menu && event.relatedTarget && !menu.contains(event.relatedTarget)) menu.open = false;
  });

  document.addEventListener("keydown", function (event) {
    var menu = event.target.closest && event.target.closest("details[data-menu]");
    if (!menu) return;
    if (event.key === "Escape" && menu.open) {
      event.preventDefault();
      menu.open = false;
      menu.querySelector("summary").focus();
      return;
    }
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    var buttons = menuButtons(menu);
    if (!buttons.length) return;
    event.preventDefault();
    menu.open = true;
    var down = event.key === "ArrowDown";
    var at = buttons.indexOf(document.activeElement);
    var next = at === -1 ? (down ? 0 : buttons.length - 1) : at + (down ? 1 : -1);
    buttons[(next + buttons.length) % buttons.length].focus();
  });

  // --- After a menu's action --------------------------------------------------------------
  // htmx swaps the thread's <article> (or removes it when the viewer may no longer see
  // it): the focus, which was on a button that is gone, goes back to the new menu's
  // summary, and a status region says what the thread is now.

  function liveStatus() {
    var region = document.getElementById("live-status");
    if (!region) {
      region = document.createElement("div");
      region.id = "live-status";
      region.className = "visually-hidden";
      region.setAttribute("role", "status");
      document.body.appendChild(region);
    }
    return region;
  }

  function announce(text) {
    var region = liveStatus();
    region.textContent = "";
    // A fresh text node, so that the same words twice are still read out.
    window.setTimeout(function () {
      region.textContent = text;
    }, 50);
  }

  var pendingMenuAction = null;

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    var menu = elt.closest && elt.closest("details[data-menu]");
    if (!menu) return;
    var article = menu.closest("article");
    pendingMenuAction = {
      articleId: article ? article.id : null,
      summaryId: menu.querySelector("summary").id,
      announce: elt.closest("form") ? elt.closest("form").dataset.announce : null,
    };
  });

  function afterMenuAction() {
    var done = pendingMenuAction;
    pendingMenuAction = null;
    if (!done || !done.articleId) return;
    var article = document.getElementById(done.articleId);
    if (!article) {
      announce("The thread is no longer shown to you.");
      var heading = document.querySelector("#profile-tab h2");
      if (heading) {
        heading.setAttribute("tabindex", "-1");
        heading.focus();
      }
      return;
    }
    var summary = document.getElementById(done.summaryId) || article.querySelector("summary");
    if (summary) summary.focus();
    var said = done.announce && article.querySelector(done.announce);
    if (said) announce("This thread is now: " + said.textContent.trim() + ".");
  }

  // Once the swap has settled. Not on htmx:afterSettle: when the thread leaves the page
  // that event fires on the detached article and never reaches the document.
  document.addEventListener("htmx:beforeSwap", function () {
    if (pendingMenuAction) window.setTimeout(afterMenuAction, 100);
  });

  document.addEventListener("htmx:responseError", function (event) {
    var elt = event.detail.elt;
    if (elt.closest && elt.closest("details[data-menu]")) {
      pendingMenuAction = null;
      announce("That was refused. Reload the page to see the thread as it is now.");
    }
  });

  // A link to one message (#message-…) of a long thread may point inside its collapsed
  // "Show N earlier": open it so the browser can scroll to the message. Chromium opens a
  // <details> for a fragment by itself; this covers browsers that do not.
  function revealLinkedMessage() {
    if (!location.hash) return;
    var target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (!target) return;
    var collapsed = target.closest("details.earlier:not([open])");
    if (collapsed) {
      collapsed.open = true;
      target.scrollIntoView();
    }
  }

  // --- Compose: never lose what was written ---------------------------------------------
  // The text of each compose and reply form is kept in this tab's sessionStorage until the
  // server says the email went out (HX-Redirect), so a refusal the server could not answer
  // with the form (an upload too large to read) or a closed tab loses nothing.
  var DRAFT_FIELDS = ["to", "cc", "bcc", "subject", "body_text"];

  function draftKey(form) {
    return "threadline-draft:" + form.dataset.composeDraft;
  }

  function draftSave(form) {
    var draft = {};
    DRAFT_FIELDS.forEach(function (name) {
      if (form.elements[name]) draft[name] = form.elements[name].value;
    });
    try {
      sessionStorage.setItem(draftKey(form), JSON.stringify(draft));
    } catch (e) {
      /* storage full or disabled: the server still keeps the text of a refused form */
    }
  }

  function draftForget(form) {
    try {
      sessionStorage.removeItem(draftKey(form));
    } catch (e) {
      /* nothing kept */
    }
  }

  function draftRestore(form) {
    // A form the server sent back already holds what was submitted.
    if (form.hasAttribute("data-bound")) return;
    var draft;
    try {
      draft = JSON.parse(sessionStorage.getItem(draftKey(form)) || "null");
    } catch (e) {
      draft = null;
    }
    if (!draft || !draft.body_text) return;
    DRAFT_FIELDS.forEach(function (name) {
      if (form.elements[name] && draft[name]) form.elements[name].value = draft[name];
    });
    var details = form.closest("details");
    if (details) details.open = true;
    noteNewAddress(form);
  }

  // "will be added to the profile", under To, while the address typed is not one of them.
  function noteNewAddress(form) {
    var to = form.elements.to;
    var note = form.querySelector("[data-new-address-note]");
    if (!to || !note) return;
    var list = to.list;
    var known = list ? Array.prototype.map.call(list.options, function (o) { return o.value; }) : [];
    var typed = to.value.trim().toLowerCase();
    var isNew = typed.indexOf("@") > 0 && known.indexOf(typed) === -1;
    note.hidden = !isNew;
    note.textContent = isNew ? typed + " will be added to the candidate's profile when you send." : "";
  }

  // --- Compose: the attachment limit, checked before anything is uploaded --------------
  function formatSize(bytes) {
    return (bytes / (1024 * 1024)).toFixed(1) + " MB";
  }

  function attachmentsOverLimit(form) {
    var input = form.querySelector("input[type=file][data-max-bytes]");
    var error = form.querySelector("[data-attachments-error]");
    if (!input || !error) return false;
    var limit = parseInt(input.dataset.maxBytes, 10);
    var total = 0;
    Array.prototype.forEach.call(input.files || [], function (file) { total += file.size; });
    form.querySelectorAll("input[name=keep]:checked").forEach(function (kept) {
      total += parseInt(kept.dataset.size || "0", 10);
    });
    var over = total > limit;
    error.hidden = !over;
    error.textContent = over
      ? "These files come to " + formatSize(total) + "; attachments may add up to " +
        input.dataset.maxLabel + " at most. Remove some files to send."
      : "";
    input.setAttribute("aria-invalid", over ? "true" : "false");
    return over;
  }

  document.addEventListener("input", function (event) {
    var form = event.target.closest && event.target.closest("form[data-compose-draft]");
    if (!form) return;
    draftSave(form);
    if (event.target.name === "to") noteNewAddress(form);
  });

  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("form[data-compose-draft]");
    if (form && (event.target.type === "file" || event.target.name === "keep")) {
      attachmentsOverLimit(form);
    }
  });

  // Capturing, so that an over-limit form never reaches htmx (or the browser) at all.
  document.addEventListener(
    "submit",
    function (event) {
      var form = event.target;
      if (!form.matches || !form.matches("form[data-compose-draft]")) return;
      draftSave(form);
      if (attachmentsOverLimit(form)) {
        event.preventDefault();
        event.stopImmediatePropagation();
        var input = form.querySelector("input[type=file]");
        if (input) input.focus();
      }
    },
    true
  );

  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-compose-draft]")) return;
    var progress = form.querySelector("[data-send-progress]");
    if (progress) {
      progress.value = 0;
      progress.hidden = false;
    }
    var button = form.querySelector("button[type=submit]");
    if (button && button.dataset.sendingLabel) {
      button.dataset.label = button.textContent;
      button.textContent = button.dataset.sendingLabel;
    }
  });

  document.addEventListener("htmx:xhr:progress", function (event) {
    var progress = event.target.querySelector && event.target.querySelector("[data-send-progress]");
    if (progress && event.detail.lengthComputable && event.detail.total) {
      progress.value = Math.round((100 * event.detail.loaded) / event.detail.total);
    }
  });

  // Sent: the server answers with HX-Redirect to the Emails tab (seen here, before htmx
  // follows it), and only then is the draft forgotten.
  document.addEventListener("htmx:beforeOnLoad", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-compose-draft]")) return;
    var xhr = event.detail.xhr;
    if (xhr && xhr.status === 200 && xhr.getResponseHeader("HX-Redirect")) draftForget(form);
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-compose-draft]")) return;
    var button = form.querySelector("button[type=submit]");
    if (button && button.dataset.label) button.textContent = button.dataset.label;
    var progress = form.querySelector("[data-send-progress]");
    if (progress) progress.hidden = true;
  });

  // --- Suggestions where a person is typed (templates/mailsync/_person_suggestions.html) ---
  // Entries are links and buttons, so Tab and Enter already work. Here: [data-fill] puts
  // the person picked into the page's fields ({"#field-id": value}) and closes the list;
  // from the field, ArrowDown goes into the list, the arrows move between its entries,
  // and Escape goes back to the field.

  function suggestionsOf(field) {
    return field.id ? document.querySelector('[data-suggestions-for="' + field.id + '"]') : null;
  }

  function suggestionEntries(container) {
    return Array.prototype.slice.call(container.querySelectorAll("[data-suggestion]"));
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-fill]");
    if (!button) return;
    event.preventDefault();
    var values = JSON.parse(button.dataset.fill);
    var filled = [];
    Object.keys(values).forEach(function (selector) {
      var field = document.querySelector(selector);
      if (!field) return;
      field.value = values[selector];
      field.dispatchEvent(new Event("change", { bubbles: true }));
      filled.push(field);
    });
    var container = button.closest("[data-suggestions-for]");
    if (container) container.replaceChildren();
    if (filled.length) {
      filled[0].focus();
      announce("Filled in " + filled.map(function (field) { return field.value; }).join(", "));
    }
  });

  document.addEventListener("keydown", function (event) {
    if (["ArrowDown", "ArrowUp", "Escape"].indexOf(event.key) === -1) return;
    var target = event.target;
    var entry = target.closest && target.closest("[data-suggestion]");
    var container = entry ? entry.closest("[data-suggestions-for]") : suggestionsOf(target);
    if (!container) return;
    var field = document.getElementById(container.dataset.suggestionsFor);
    var entries = suggestionEntries(container);
    if (event.key === "Escape") {
      if (entry && field) {
        event.preventDefault();
        field.focus();
      }
      return;
    }
    if (!entries.length) return;
    event.preventDefault();
    var down = event.key === "ArrowDown";
    var at = entries.indexOf(entry);
    if (at === -1) {
      entries[down ? 0 : entries.length - 1].focus();
    } else if (!down && at === 0 && field) {
      field.focus();
    } else {
      entries[Math.min(at + (down ? 1 : -1), entries.length - 1)].focus();
    }
  });

  // A reply whose form loads when opened, with a draft kept in this browser: open it, so
  // that the form loads and the draft comes back into it (draftRestore, on htmx:load).
  function openRepliesWithDrafts(root) {
    root.querySelectorAll("details[data-reply-draft]:not([open])").forEach(function (details) {
      var draft;
      try {
        draft = JSON.parse(
          sessionStorage.getItem("threadline-draft:" + details.dataset.replyDraft) || "null"
        );
      } catch (e) {
        draft = null;
      }
      if (draft && draft.body_text) details.open = true;
    });
  }

  function restoreDrafts(root) {
    // htmx:load names each new top-level element: a reply form loaded on its own is one.
    var forms = Array.prototype.slice.call(root.querySelectorAll("form[data-compose-draft]"));
    if (root.matches && root.matches("form[data-compose-draft]")) forms.push(root);
    forms.forEach(function (form) {
      draftRestore(form);
      noteNewAddress(form);
    });
  }

  // --- Schedule interview: the organiser's time zone before their first interview ------
  // The server marks the select when it has no better guess than its own default.
  function preselectBrowserZone(root) {
    var zone;
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    } catch (error) {
      return;
    }
    root.querySelectorAll("select[data-zone-from-browser]").forEach(function (select) {
      if (zone && select.querySelector('option[value="' + zone.replace(/"/g, "") + '"]')) {
        select.value = zone;
      }
    });
  }

  document.addEventListener("htmx:load", function (event) {
    restoreDrafts(event.target);
    openRepliesWithDrafts(event.target);
    preselectBrowserZone(event.target);
  });

  document.addEventListener("DOMContentLoaded", function () {
    loadChosenRemoteImages(document);
    restoreDrafts(document);
    openRepliesWithDrafts(document);
    preselectBrowserZone(document);
    revealLinkedMessage();
  });
  window.addEventListener("hashchange", revealLinkedMessage);
})();
