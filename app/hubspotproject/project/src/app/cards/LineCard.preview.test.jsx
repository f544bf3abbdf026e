// A local preview of the card outside HubSpot: the card is rendered with
// HubSpot's test renderer, and each UI-extension component of the result
// is drawn as plain HTML. HubSpot draws these components with its own
// design system, so this shows the card's content and layout, not
// HubSpot's exact look. With CARD_PREVIEW_DIR set, the pages are written
// there (docs/screenshots are taken from them with chromium).
import React from 'react';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Alert, Button, Input, LoadingSpinner, Select } from '@hubspot/ui-extensions';
import { createRenderer } from '@hubspot/ui-extensions/testing';

import { LineCard } from './LineCard.jsx';
import { cardData, fakeLinehub, linkFriends, refusals } from './testdata.js';

const esc = (s) =>
  String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

const gaps = { flush: 0, 'extra-small': 4, xs: 4, small: 8, sm: 8, medium: 16, md: 16, large: 24, lg: 24, 'extra-large': 32, xl: 32 };

// toHTML draws a rendered node.
export function toHTML(node) {
  if (node.nodeType === 'text') {
    return esc(node.text);
  }
  const kids = () => (node.childNodes || []).map(toHTML).join('');
  if (node.nodeType !== 'element') {
    return kids();
  }
  const p = node.props || {};
  switch (node.name) {
    case 'Flex': {
      const dir = p.direction === 'row' ? 'row' : 'column';
      const align = { start: 'flex-start', end: 'flex-end', center: 'center' }[p.align] || 'stretch';
      const justify = { end: 'flex-end', center: 'center', between: 'space-between', around: 'space-around' }[p.justify] || 'flex-start';
      return `<div style="display:flex;flex-direction:${dir};gap:${gaps[p.gap] ?? 0}px;align-items:${align};justify-content:${justify};${p.wrap ? 'flex-wrap:wrap;' : ''}">${kids()}</div>`;
    }
    case 'Text': {
      const f = p.format || {};
      const weight = f.fontWeight === 'bold' ? 700 : f.fontWeight === 'demibold' ? 600 : 400;
      const cls = p.variant === 'microcopy' ? 'micro' : 'body';
      return `<p class="${cls}" style="font-weight:${weight}">${kids()}</p>`;
    }
    case 'Image':
      return `<img src="${esc(p.src)}" alt="${esc(p.alt || '')}" style="${p.width ? `width:${p.width}px;` : ''}${p.height ? `height:${p.height}px;` : ''}" class="${p.height ? 'avatar' : 'photo'}">`;
    case 'Tag':
      return `<span class="tag tag-${esc(p.variant || 'default')}">${kids()}</span>`;
    case 'Divider':
      return '<hr>';
    case 'Alert':
      return `<div class="alert alert-${esc(p.variant || 'info')}"><strong>${esc(p.title)}</strong>${kids() ? `<div>${kids()}</div>` : ''}</div>`;
    case 'Button':
      return `<button class="btn btn-${esc(p.variant || 'secondary')}"${p.disabled ? ' disabled' : ''}>${kids()}</button>`;
    case 'Link':
      return `<a href="#">${kids()} ↗</a>`;
    case 'Input':
      return `<label class="field"><span>${esc(p.label)}${p.required ? ' *' : ''}</span><input value="${esc(p.value || '')}" placeholder="${esc(p.placeholder || '')}"></label>`;
    case 'TextArea':
      return `<label class="field"><span>${esc(p.label)}</span><textarea rows="${p.rows || 3}" placeholder="${esc(p.placeholder || '')}">${esc(p.value || '')}</textarea></label>`;
    case 'Select': {
      const chosen = (p.options || []).find((o) => String(o.value) === String(p.value));
      return `<label class="field"><span>${esc(p.label)}</span><div class="select">${esc(chosen ? chosen.label : p.placeholder || '')} ▾</div></label>`;
    }
    case 'LoadingSpinner':
      return `<p class="micro">${esc(p.label || '')}</p>`;
    default:
      return `<div data-component="${esc(node.name)}">${kids()}</div>`;
  }
}

export function page(body, width) {
  return `<!doctype html><html><head><meta charset="utf-8"><style>
body{margin:0;background:#f5f8fa;font-family:"Lexend Deca","Noto Sans CJK JP","Noto Sans JP",Helvetica,Arial,sans-serif;color:#33475b}
.card{box-sizing:border-box;width:${width}px;background:#fff;border:1px solid #cbd6e2;border-radius:4px;padding:16px}
.card h2{font-size:14px;margin:0 0 12px;text-transform:uppercase;letter-spacing:.04em}
p{margin:0}.body{font-size:14px;line-height:1.5}.micro{font-size:12px;color:#516f90}
.tag{display:inline-block;font-size:12px;border-radius:3px;padding:1px 8px;border:1px solid #cbd6e2;background:#f5f8fa}
.tag-success{background:#e5f8f6;border-color:#00bda5}.tag-warning{background:#fef8f0;border-color:#f5c26b}
.tag-error{background:#fde8e9;border-color:#f2545b}.tag-info{background:#e5f5f8;border-color:#7fd1de}
hr{border:0;border-top:1px solid #dfe3eb;width:100%;margin:4px 0}
.alert{border-left:4px solid #00a4bd;background:#e5f5f8;padding:8px 12px;font-size:14px}.alert-success{border-color:#00bda5;background:#e5f8f6}
.alert-error{border-color:#f2545b;background:#fde8e9}.alert-warning{border-color:#f5c26b;background:#fef8f0}
.btn{white-space:nowrap;flex-shrink:0;font:inherit;font-size:14px;border-radius:3px;padding:6px 16px;border:1px solid #ff7a59;background:#fff;color:#ff7a59}
.btn-primary{background:#ff7a59;color:#fff}.btn-destructive{background:#f2545b;border-color:#f2545b;color:#fff}
.btn-transparent{border-color:transparent;color:#0091ae;padding-left:0;align-self:flex-start}.btn[disabled]{opacity:.5}
a{color:#0091ae;font-size:14px;text-decoration:none}
.field{display:flex;flex-direction:column;gap:4px;font-size:14px;width:100%}
textarea,.select,input{box-sizing:border-box;width:100%;font:inherit;font-size:14px;border:1px solid #cbd6e2;border-radius:3px;background:#f5f8fa;padding:8px}
.avatar{border-radius:50%}.photo{border-radius:4px}
</style></head><body><div class="card"><h2>LINE</h2>${body}</div><script>document.title = String(document.querySelector(".card").getBoundingClientRect().bottom + 1);</script></body></html>`;
}

// Pictures as inline SVG: the preview has no network.
const avatar = `data:image/svg+xml;utf8,${encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48"><rect width="48" height="48" fill="#06c755"/><text x="24" y="31" font-size="20" text-anchor="middle" fill="#fff" font-family="sans-serif">TY</text></svg>')}`;
const photo = `data:image/svg+xml;utf8,${encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" width="160" height="100"><rect width="160" height="100" fill="#ffe8b0"/><text x="80" y="56" font-size="16" text-anchor="middle" fill="#7a5b00" font-family="sans-serif">menu.jpg</text></svg>')}`;

function previewData() {
  const d = cardData();
  d.friends[0].picture_url = avatar;
  for (const m of d.friends[0].messages) {
    for (const p of m.parts) {
      if (p.preview_url) {
        p.preview_url = photo;
      }
    }
  }
  return d;
}

const hanako = `data:image/svg+xml;utf8,${encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32"><rect width="32" height="32" fill="#06c755"/><text x="16" y="21" font-size="13" text-anchor="middle" fill="#fff" font-family="sans-serif">HS</text></svg>')}`;

function previewFriends() {
  const d = linkFriends();
  d.friends[0].picture_url = hanako;
  return d;
}

async function renderPreview(lang, lhConfig = {}) {
  const r = createRenderer('crm.record.tab');
  const ctx = {
    location: 'crm.record.tab',
    user: { id: 7, locale: lang === 'ja' ? 'ja-jp' : 'en-us', language: lang },
    portal: { id: 1234567, timezone: 'Asia/Tokyo' },
    crm: { objectId: 501, objectTypeId: '0-1' },
  };
  const lh = fakeLinehub({ card: previewData(), friends: previewFriends(), ...lhConfig });
  r.render(<LineCard context={ctx} fetcher={lh.fetch} base="https://linehub.example.com" makeKey={() => 'k'} />);
  await r.waitFor(() => expect(r.maybeFind(LoadingSpinner)).toBeNull());
  return { r, lh };
}

// chooseHanako opens the link panel, searches and picks a friend whose
// own contact is merged on linking.
async function chooseHanako(r) {
  r.findByTestId(Button, 'link-open').trigger('onClick');
  await r.waitFor(() => expect(r.maybeFind(Input, { name: 'link-q' })).toBeTruthy());
  r.find(Input, { name: 'link-q' }).trigger('onChange', 'Hanako');
  await r.waitFor(() => expect(r.findByTestId(Button, 'link-search').props.disabled).toBe(false));
  r.findByTestId(Button, 'link-search').trigger('onClick');
  await r.waitFor(() => expect(r.findByTestId(Button, 'link-pick-1-Uc0ffee0001')).toBeTruthy());
  r.findByTestId(Button, 'link-pick-1-Uc0ffee0001').trigger('onClick');
  await r.waitFor(() => expect(r.findByTestId(Button, 'link')).toBeTruthy());
  r.find(Input, { name: 'link-reason' }).trigger('onChange', lang(r) === 'ja' ? '電話で本人確認済み' : 'same person, checked by phone');
}
const lang = (r) => (r.findByTestId(Button, 'link').text === 'リンク' ? 'ja' : 'en');

// The states drawn, each in both languages: the card as staff see it
// (chat, reply, a template chosen), and the link and unlink steps.
const scenes = {
  // The conversation with a template chosen in the picker.
  card: {
    widths: [400, 640],
    async run(l) {
      const { r } = await renderPreview(l);
      await r.waitFor(() => expect(r.findAll(Select).length).toBe(2));
      r.findAll(Select)[0].trigger('onChange', '3');
      await r.waitFor(() => expect(r.findByTestId(Button, 'send-template-1')).toBeTruthy());
      return { r, want: ['Taro Yamada', 'Hello Taro, we are open 10:00-20:00.', l === 'ja' ? 'フォロー中' : 'Following'] };
    },
  },
  // A contact that is no friend yet: search, pick, the confirmation.
  link: {
    widths: [400],
    async run(l) {
      const { r } = await renderPreview(l, { card: { contact_id: '501', friends: [] } });
      await chooseHanako(r);
      return { r, want: ['Hanako Sato', l === 'ja' ? 'ダミーのメールアドレス' : 'dummy email'] };
    },
  },
  // The answer of a link: the friend's dummy contact merged, the card reloaded.
  linked: {
    widths: [400],
    async run(l) {
      const { r, lh } = await renderPreview(l, { card: { contact_id: '501', friends: [] } });
      await chooseHanako(r);
      const d = previewData();
      d.friends = [{ ...d.friends[0], display_name: 'Hanako Sato', user_id: 'Uc0ffee0001', messages: d.friends[0].messages.slice(0, 2) }];
      lh.set({ card: d });
      r.findByTestId(Button, 'link').trigger('onClick');
      await r.waitFor(() => expect(r.findByTestId(Alert, 'notice')).toBeTruthy());
      await r.waitFor(() => expect(toHTML(r.getRootNode())).toContain('Yes, until 20:00.'));
      return { r, want: ['9001', 'Hanako Sato'] };
    },
  },
  // A refusal: the friend follows another customer's contact.
  refused: {
    widths: [400],
    async run(l) {
      const { r } = await renderPreview(l, { card: { contact_id: '501', friends: [] }, link: refusals.elsewhere });
      await chooseHanako(r);
      r.findByTestId(Button, 'link').trigger('onClick');
      await r.waitFor(() => expect(r.findByTestId(Alert, 'link-error')).toBeTruthy());
      return { r, want: [refusals.elsewhere.body.error] };
    },
  },
  // Unlink: what happens, and the reason asked for.
  unlink: {
    widths: [400],
    async run(l) {
      const { r } = await renderPreview(l);
      r.findByTestId(Button, 'unlink-open-1').trigger('onClick');
      await r.waitFor(() => expect(r.maybeFind(Input, { name: 'unlink-reason-1-U4af4980629' })).toBeTruthy());
      r.find(Input, { name: 'unlink-reason-1-U4af4980629' }).trigger('onChange', l === 'ja' ? '別人でした' : 'wrong person');
      await r.waitFor(() => expect(r.findByTestId(Button, 'unlink-1').props.disabled).toBe(false));
      return { r, want: [l === 'ja' ? 'リンク解除' : 'Unlink'] };
    },
  },
};

describe('preview', () => {
  for (const [name, scene] of Object.entries(scenes)) {
    for (const l of ['en', 'ja']) {
      it(`draws the ${name} state as HTML (${l})`, async () => {
        const { r, want } = await scene.run(l);
        const html = toHTML(r.getRootNode());
        for (const w of want) {
          expect(html).toContain(esc(w));
        }
        const dir = process.env.CARD_PREVIEW_DIR;
        if (dir) {
          for (const width of scene.widths) {
            const file = name === 'card' ? `card-${l}-${width}.html` : `card-${name}-${l}-${width}.html`;
            writeFileSync(join(dir, file), page(html, width));
          }
        }
      });
    }
  }
});
