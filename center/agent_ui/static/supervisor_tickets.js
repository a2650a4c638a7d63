// Supervisor board: tickets whose SLA is at risk (warning) or breached, and counts of open
// and pending tickets by SLA state; read again at once when the server writes a warning or
// breach (the "sla" push, relayed by supervisor.js), and every 15 s for the rest (replies
// and status changes that move a ticket off the list).
(() => {
  const $ = (id) => document.getElementById(id);
  const cell = (text, cls) => {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  };
  const due = (t) => {
    const s = t.sla;
    const times = [s.first_responded_at ? null : s.first_response_due_at, s.next_response_due_at, s.resolution_due_at]
      .filter(Boolean).map((x) => new Date(x));
    return times.length ? new Date(Math.min(...times)).toLocaleString() : "";
  };
  let names = null; // user id -> display name (read once; an unknown id shows as #id)
  async function refresh() {
    if ($("console").hidden) return;
    if (names === null) {
      const res = await fetch("/api/agents");
      if (res.ok) names = new Map((await res.json()).agents.map((a) => [a.id, a.display_name]));
    }
    const res = await fetch("/api/supervisor/tickets/sla");
    if (!res.ok) return;
    const board = await res.json();
    const c = board.counts;
    $("sla-counts").textContent = `${c.breached} breached · ${c.warning} at risk · ${c.ok} on time`;
    const rows = board.tickets.map((t) => {
      const tr = document.createElement("tr");
      tr.append(cell(t.token), cell(t.subject), cell(t.queue), cell(t.priority),
        cell(t.assignee_id ? (names?.get(t.assignee_id) ?? `#${t.assignee_id}`) : "unassigned"),
        cell(t.sla.state, `sla ${t.sla.state}`), cell(due(t)));
      return tr;
    });
    $("sla-tickets").querySelector("tbody").replaceChildren(...rows);
  }
  setInterval(() => refresh().catch(() => {}), 15000);
  document.addEventListener("center:sla", () => refresh().catch(() => {}));
  new MutationObserver(() => refresh().catch(() => {}))
    .observe($("console"), { attributes: true, attributeFilter: ["hidden"] });
})();
