// The lists of a site's settings pages (keys, metrics, team, share links): a table of the rows the API
// answers, and a row's button that deletes it.

import { get, del, items } from "../api.js";
import { h, replace, errorBox, table } from "../dom.js";

/** Fill `area` with a table of the rows at `url` (the answer's first array under one of `keys`) that
 *  `keep` accepts, or with `none` when there are none; an error box when the request fails. `heading`
 *  titles the table (it is then left out altogether when there are no rows). */
export async function loadList(area, url, keys, { columns, caption, none = [], heading, keep = () => true }) {
  try {
    const rows = items(await get(url), ...keys).filter(keep);
    const list = rows.length ? table(columns, rows, caption) : null;
    replace(area, list ? [heading ? h("h3", { text: heading }) : null, list] : none);
  } catch (error) {
    replace(area, errorBox(error));
  }
}

/** A small button that deletes `url` once the person confirms `confirm` (when given), then awaits
 *  `done`; a refusal shows in `status`. `attrs` are the button's own (text, aria-label, data-action). */
export function deleteButton(url, attrs, { confirm, done, status }) {
  const button = h("button", { type: "button", class: "secondary small", ...attrs });
  button.addEventListener("click", async () => {
    if (confirm && !window.confirm(confirm)) return;
    try {
      await del(url);
      await done();
    } catch (error) {
      replace(status, errorBox(error));
    }
  });
  return button;
}
