// Agent console, ticket pane: the agent's tickets, one ticket's messages (text always via
// textContent; a message's sanitised HTML only inside a sandboxed iframe that runs no
// script and loads no remote image unless asked), the reply composer with queued / sent /
// failed shown live, private notes, status / priority / assignee / queue / tags.
(() => {
  const $ = (id) => document.getElementById(id);
  let current = null;  // the ticket shown
  let me = null;

  const api = async (method, path, body) => {
    const res = await fetch(path, {
      method, headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.error || `${res.status}`);
    return data;
  };
  const say = (text) => { $("ticket-error").textContent = text || ""; };
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  };

  async function refreshList() {
    const status = $("ticket-filter").value;
    const q = status ? `?status=${encodeURIComponent(status)}` : "";
    const { tickets } = await api("GET", `/api/tickets${q}`);
    const ul = $("ticket-items");
    ul.replaceChildren();
    for (const t of tickets) {
      const li = el("li", current && current.id === t.id ? "active" : "");
      li.dataset.id = t.id;
      li.append(el("strong", "", `${t.token} `), el("span", "", t.subject));
      li.append(el("div", `muted sla ${t.sla.state}`, `${t.status} · ${t.priority} · SLA ${t.sla.state}`));
      li.addEventListener("click", () => show(t.id).catch((e) => say(e.message)));
      ul.append(li);
    }
  }

  // The sanitised HTML goes into an iframe with an empty sandbox (no script, its own
  // origin) and a policy of its own: no remote images until the agent asks for them.
  function frame(html, remote) {
    const f = document.createElement("iframe");
    f.setAttribute("sandbox", "");
    f.setAttribute("referrerpolicy", "no-referrer");
    const img = remote ? "img-src data: https:" : "img-src data:";
    f.srcdoc = `<!doctype html><meta http-equiv="Content-Security-Policy" content="default-src 'none'; ${img}; style-src 'unsafe-inline'">` + html;
    return f;
  }

  function deliveryBadge(m) {
    const d = m.delivery;
    const badge = el("span", `delivery ${d ? d.status : ""}`);
    if (!d) return badge;
    badge.textContent = d.status + (d.reason ? `: ${d.reason}` : "");
    return badge;
  }

  function renderMessage(m) {
    const box = el("div", `ticket-msg ${m.direction}`);
    box.dataset.messageId = m.id;
    const head = el("div", "head muted");
    const who = m.direction === "inbound" ? (m.from || "customer") : `agent ${m.author_id || ""}`;
    head.append(el("span", "", `${who} · ${m.channel || ""} · ${new Date(m.at).toLocaleString()}`));
    if (m.subject) head.append(el("div", "", `Subject: ${m.subject}`));
    if (m.to && m.to.length) head.append(el("div", "", `To: ${m.to.join(", ")}`));
    if (m.cc && m.cc.length) head.append(el("div", "", `Cc: ${m.cc.join(", ")}`));
    if (m.direction === "outbound") {
      head.append(" ", deliveryBadge(m));
      if (m.delivery && m.delivery.status === "failed" && m.outbox_id) {
        const again = el("button", "resend", "Resend");
        again.addEventListener("click", () =>
          api("POST", `/api/outbox/${m.outbox_id}/resend`).then(() => show(current.id)).catch((e) => say(e.message)));
        head.append(" ", again);
      }
    }
    box.append(head, el("div", "text", m.text));
    if (m.html) {
      const toggle = el("button", "formatted", "Show formatted");
      const images = el("button", "images", "Load remote images");
      images.hidden = true;
      let shown = null;
      toggle.addEventListener("click", () => {
        if (shown) { shown.remove(); shown = null; images.hidden = true; toggle.textContent = "Show formatted"; return; }
        shown = frame(m.html, false);
        box.append(shown);
        images.hidden = false;
        toggle.textContent = "Hide formatted";
      });
      images.addEventListener("click", () => { if (shown) { const f = frame(m.html, true); shown.replaceWith(f); shown = f; } });
      box.append(el("div", "row", null));
      box.lastChild.append(toggle, images);
    }
    if (m.attachments && m.attachments.length) {
      const list = el("div", "attachments");
      for (const a of m.attachments) {
        const link = el("a", "", `${a.filename} (${a.size} bytes)`);
        link.href = `/api/attachments/${a.id}`;
        link.setAttribute("download", "");
        list.append(link, document.createTextNode(" "));
      }
      box.append(list);
    }
    return box;
  }

  function slaLine(t) {
    const s = t.sla;
    const parts = [`SLA ${s.state}`];
    if (s.first_response_due_at && !s.first_responded_at) parts.push(`first response due ${new Date(s.first_response_due_at).toLocaleString()}`);
    if (s.next_response_due_at) parts.push(`next response due ${new Date(s.next_response_due_at).toLocaleString()}`);
    if (s.resolution_due_at) parts.push(`resolution due ${new Date(s.resolution_due_at).toLocaleString()}`);
    return parts.join(" · ");
  }

  // The view is always the server's state: the newest request wins (a delivery notice and
  // the reply's own answer may race; whichever view was asked for last is drawn).
  let generation = 0;
  async function show(id) {
    const mine = ++generation;
    const { ticket } = await api("GET", `/api/tickets/${id}`);
    if (mine !== generation) return;
    current = ticket;
    say("");
    const view = $("ticket-view");
    view.hidden = false;
    $("tv-title").textContent = `${ticket.token} ${ticket.subject}`;
    $("tv-sla").textContent = slaLine(ticket);
    $("tv-sla").className = `muted sla ${ticket.sla.state}`;
    $("tv-interactions").textContent = ticket.interactions.length
      ? `Conversations: ${ticket.interactions.map((i) => `${i.channel} #${i.id}`).join(", ")}` : "";
    $("tv-status").value = ticket.status;
    $("tv-priority").value = ticket.priority;
    $("tv-queue").value = ticket.queue;
    $("tv-tags").value = ticket.tags.join(", ");
    await assignees(ticket.assignee_id);
    if (mine !== generation) return;
    $("tv-assignee").value = ticket.assignee_id ? String(ticket.assignee_id) : "";
    const log = $("tv-messages");
    log.replaceChildren(...ticket.messages.map(renderMessage));
    $("tv-notes").replaceChildren(...ticket.notes.map((n) => el("div", "note", n.body)));
    for (const li of $("ticket-items").children) li.classList.toggle("active", Number(li.dataset.id) === id);
  }

  // The assignee list: every active account by name, read once a pane (an account made
  // since shows on the next ticket opened). An assignee the list lacks (deactivated) stays
  // selectable as "#id" so saving the pane does not unassign the ticket.
  let people = null;
  async function assignees(current) {
    if (people === null) {
      const res = await fetch("/api/agents");
      people = res.ok ? (await res.json()).agents : [];
    }
    const select = $("tv-assignee");
    const options = [el("option", "", "unassigned")];
    options[0].value = "";
    const listed = people.map((p) => {
      const o = el("option", "", p.display_name === p.username ? p.display_name : `${p.display_name} (${p.username})`);
      o.value = String(p.id);
      return o;
    });
    if (current && !people.some((p) => p.id === current)) {
      const o = el("option", "", `#${current}`);
      o.value = String(current);
      listed.push(o);
    }
    select.replaceChildren(...options, ...listed);
  }

  async function save(ev) {
    ev.preventDefault();
    const tags = $("tv-tags").value.split(",").map((s) => s.trim()).filter(Boolean);
    const assignee = $("tv-assignee").value;
    const body = {
      status: $("tv-status").value, priority: $("tv-priority").value,
      queue: $("tv-queue").value.trim() || undefined, tags,
      assignee_id: assignee ? Number(assignee) : null,
    };
    await api("PATCH", `/api/tickets/${current.id}`, body);
    await show(current.id);
    await refreshList();
  }

  async function reply(ev) {
    ev.preventDefault();
    const text = $("tv-reply").value.trim();
    if (!text) return;
    const cc = $("tv-cc").value.split(",").map((s) => s.trim()).filter(Boolean);
    await api("POST", `/api/tickets/${current.id}/replies`, { body: text, cc });
    $("tv-reply").value = "";
    await show(current.id);
  }

  async function note(ev) {
    ev.preventDefault();
    const text = $("tv-note").value.trim();
    if (!text) return;
    await api("POST", `/api/tickets/${current.id}/notes`, { body: text });
    $("tv-note").value = "";
    await show(current.id);
  }

  async function create(ev) {
    ev.preventDefault();
    const { ticket } = await api("POST", "/api/tickets", {
      customer_email: $("nt-email").value.trim(), subject: $("nt-subject").value.trim(),
    });
    $("nt-email").value = ""; $("nt-subject").value = "";
    await refreshList();
    await show(ticket.id);
  }

  // A delivery notice (outbox: queued -> sent / failed) updates the message's badge.
  function onDelivery(n) {
    if (current && n.ticket_id === current.id) show(current.id).catch(() => {});
  }

  // A chat pane gets "Open ticket": a ticket for that customer with the chat on it.
  function offerTicketButton(pane) {
    if (pane.querySelector(".open-ticket")) return;
    const b = el("button", "open-ticket", "Open ticket");
    b.type = "button";
    b.addEventListener("click", async () => {
      const subject = (pane.querySelector(".title").textContent || "Conversation").slice(0, 200);
      try {
        const { ticket } = await api("POST", `/api/interactions/${pane.dataset.id}/ticket`, { subject });
        await refreshList();
        await show(ticket.id);
      } catch (e) { say(e.message); }
    });
    // "Add to ticket": this chat onto the ticket shown in the ticket pane.
    const add = el("button", "add-to-ticket", "Add to ticket");
    add.type = "button";
    add.addEventListener("click", async () => {
      if (!current) { say("open a ticket first, then add the chat to it"); return; }
      try {
        await api("POST", `/api/tickets/${current.id}/interactions`, { interaction_id: Number(pane.dataset.id) });
        await show(current.id);
      } catch (e) { say(e.message); }
    });
    pane.querySelector(".row.flush").append(b, add);
  }

  // An e-mail (or any non-chat) interaction assigned to this agent: its ticket is opened.
  async function showFor(interaction) {
    if (interaction.channel === "chat") return;
    const { tickets } = await api("GET", `/api/tickets?interaction_id=${Number(interaction.id)}`);
    if (tickets.length) { await refreshList(); await show(tickets[0].id); }
  }

  const guard = (fn) => (ev) => fn(ev).catch((e) => say(e.message));
  // agent.js announces its /agent connection (the same hook the channel scripts use).
  document.addEventListener("center:socket", (ev) => {
    const socket = ev.detail.socket;
    socket.on("delivery", onDelivery);
    socket.on("sla", () => refreshList().catch(() => {}));
    socket.on("hello", (h) => {
      me = h.user;
      $("tickets").hidden = false;
      refreshList().catch((e) => say(e.message));
      const work = (h.interactions || []).filter((i) => i.state === "assigned" && i.channel !== "chat");
      if (work.length) showFor(work[work.length - 1]).catch((e) => say(e.message));
    });
    socket.on("assigned", (i) => showFor(i).catch((e) => say(e.message)));
  });
  $("ticket-filter").addEventListener("change", guard(refreshList));
  $("ticket-refresh").addEventListener("click", guard(refreshList));
  $("tv-fields").addEventListener("submit", guard(save));
  $("tv-compose").addEventListener("submit", guard(reply));
  $("tv-note-form").addEventListener("submit", guard(note));
  $("new-ticket").addEventListener("submit", guard(create));
  new MutationObserver(() => { for (const p of $("panes").children) offerTicketButton(p); })
    .observe($("panes"), { childList: true });
  void me;
})();
