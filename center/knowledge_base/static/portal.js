// The help centre without reloads: suggestions as you type, and the feedback buttons
// answered in place. Everything shown is set with textContent: no HTML from the wire.
// The pages work without this file (plain forms and links).
(() => {
  const box = document.querySelector("form.search input[type=search]");
  const list = document.getElementById("suggestions");
  if (box && list) {
    let timer = null;
    let asked = "";
    const hide = () => { list.hidden = true; list.replaceChildren(); };
    const show = (items) => {
      list.replaceChildren();
      for (const item of items) {
        const li = document.createElement("li");
        const a = document.createElement("a");
        a.href = item.url + (box.dataset.locale && box.dataset.locale !== "en"
          ? `?locale=${encodeURIComponent(box.dataset.locale)}` : "");
        a.textContent = item.title;
        a.setAttribute("role", "option");
        li.appendChild(a);
        list.appendChild(li);
      }
      list.hidden = items.length === 0;
    };
    const ask = async () => {
      const q = box.value.trim();
      if (q.length < 2) { hide(); return; }
      asked = q;
      const params = new URLSearchParams({ q, locale: box.dataset.locale || "en" });
      try {
        const response = await fetch(`/help/suggest?${params}`, { headers: { Accept: "application/json" } });
        if (!response.ok || asked !== q) return;  // a newer keystroke already asked
        show(await response.json());
      } catch (_) { hide(); }
    };
    box.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(ask, 150); });
    box.addEventListener("keydown", (event) => {
      const links = [...list.querySelectorAll("a")];
      const at = links.indexOf(document.activeElement);
      if (event.key === "ArrowDown" && links.length) { event.preventDefault(); links[Math.min(at + 1, links.length - 1)].focus(); }
      if (event.key === "Escape") hide();
    });
    list.addEventListener("keydown", (event) => {
      const links = [...list.querySelectorAll("a")];
      const at = links.indexOf(document.activeElement);
      if (event.key === "ArrowDown") { event.preventDefault(); links[Math.min(at + 1, links.length - 1)].focus(); }
      if (event.key === "ArrowUp") { event.preventDefault(); (at > 0 ? links[at - 1] : box).focus(); }
      if (event.key === "Escape") { hide(); box.focus(); }
    });
    document.addEventListener("click", (event) => { if (!list.contains(event.target) && event.target !== box) hide(); });
  }

  const feedback = document.querySelector("form.feedback");
  if (feedback) {
    feedback.addEventListener("submit", async (event) => {
      event.preventDefault();
      const vote = event.submitter ? event.submitter.value : "yes";
      const body = new URLSearchParams({ helpful: vote });
      try {
        const response = await fetch(feedback.action, { method: "POST", body, headers: { Accept: "application/json" } });
        if (!response.ok) throw new Error(String(response.status));
        const thanks = document.createElement("p");
        thanks.className = "thanks";
        thanks.setAttribute("role", "status");
        thanks.textContent = "Thanks for your feedback!";
        feedback.replaceWith(thanks);
      } catch (_) {  // fall back to the plain form post, with the button's value
        const field = document.createElement("input");
        field.type = "hidden"; field.name = "helpful"; field.value = vote;
        feedback.appendChild(field);
        feedback.submit();
      }
    });
  }
})();
