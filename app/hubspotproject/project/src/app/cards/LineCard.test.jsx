import React from 'react';
import { describe, expect, it } from 'vitest';
import { Alert, Button, Image, Link, LoadingSpinner, Select, Tag, Text, TextArea } from '@hubspot/ui-extensions';
import { createRenderer } from '@hubspot/ui-extensions/testing';

import { LineCard, makeApi, pickLang } from './LineCard.jsx';
import { cardData, fakeLinehub } from './testdata.js';

const BASE = 'https://linehub.example.com';

function context(overrides = {}) {
  return {
    location: 'crm.record.tab',
    user: { id: 7, email: 'staff@example.com', locale: 'en-us', language: 'en', ...(overrides.user || {}) },
    portal: { id: 1234567, timezone: 'Asia/Tokyo' },
    crm: { objectId: 501, objectTypeId: '0-1' },
  };
}

function keys() {
  let n = 0;
  return () => `key-${++n}`;
}

async function renderCard(lh, ctx = context()) {
  const r = createRenderer('crm.record.tab');
  r.render(<LineCard context={ctx} fetcher={lh.fetch} base={BASE} makeKey={keys()} />);
  await r.waitFor(() => expect(r.maybeFind(LoadingSpinner)).toBeNull());
  return r;
}

// allText is every text node under node, in order, one per line.
function allText(node) {
  if (node.nodeType === 'text') {
    return node.text;
  }
  return (node.childNodes || []).map(allText).join('\n');
}
const textOf = (r) => allText(r.getRootNode());

describe('pickLang', () => {
  it('follows the HubSpot user language', () => {
    expect(pickLang({ language: 'ja' })).toBe('ja');
    expect(pickLang({ locale: 'ja-jp' })).toBe('ja');
    expect(pickLang({ locale: 'ja-JP' })).toBe('ja');
    expect(pickLang({ locale: 'en-us' })).toBe('en');
    expect(pickLang({ locale: 'jam' })).toBe('en');
    expect(pickLang(undefined)).toBe('en');
  });
});

describe('requests', () => {
  it('go to linehub under /hubspot/app/card with the contact id and a timeout inside hubspot.fetch limit', async () => {
    const lh = fakeLinehub();
    const api = makeApi(lh.fetch, BASE, 501);
    await api.card();
    await api.templates();
    await api.preview(3);
    await api.reply({ connectionId: 1, userId: 'U1', text: 'hi', key: 'k' });
    const urls = lh.calls.map((c) => `${c.options.method} ${c.url}`);
    expect(urls).toEqual([
      `GET ${BASE}/hubspot/app/card?contactId=501`,
      `GET ${BASE}/hubspot/app/card/templates?contactId=501`,
      `GET ${BASE}/hubspot/app/card/templates/preview?contactId=501&templateId=3`,
      `POST ${BASE}/hubspot/app/card/reply?contactId=501`,
    ]);
    for (const c of lh.calls) {
      // hubspot.fetch: "Each request has a maximum timeout of 15 seconds."
      expect(c.options.timeout).toBeGreaterThan(0);
      expect(c.options.timeout).toBeLessThanOrEqual(15000);
    }
    expect(lh.calls[3].options.body).toEqual({ connectionId: 1, userId: 'U1', text: 'hi', key: 'k', contactId: '501' });
  });
});

describe('LineCard', () => {
  it('shows each friend: name, picture, Follow, Unanswered, conversation newest last, link to linehub', async () => {
    const r = await renderCard(fakeLinehub());
    expect(textOf(r)).toContain('Taro Yamada');
    expect(textOf(r)).toContain('Connection: Shop Shibuya');
    const pic = r.find(Image, { alt: 'Taro Yamada' });
    expect(pic.props.src).toBe('https://profile.line-scdn.net/taro');
    const follow = ['follow-1', 'follow-2'].map((id) => r.findByTestId(Tag, id));
    expect(follow.map((t) => t.text)).toEqual(['Following', 'Blocked']);
    expect(follow.map((t) => t.props.variant)).toEqual(['success', 'warning']);
    const unanswered = ['unanswered-1', 'unanswered-2'].map((id) => r.findByTestId(Tag, id));
    expect(unanswered.map((t) => t.text)).toEqual(['Unanswered', 'Answered']);
    // Newest last, as linehub sent them.
    const t = textOf(r);
    expect(t.indexOf('Hello, is the shop open today?')).toBeLessThan(t.indexOf('Yes, until 20:00.'));
    expect(t.indexOf('Yes, until 20:00.')).toBeLessThan(t.indexOf('Thanks!'));
    // Sent messages say how they went out.
    expect(t).toContain('Sent (reply)');
    const links = r.findAll(Link);
    expect(links.map((l) => l.props.href)).toEqual([
      { url: 'https://linehub.example.com/connections/1/chat/U4af4980629', external: true },
      { url: 'https://linehub.example.com/connections/2/chat/Ub12', external: true },
    ]);
  });

  it('shows stickers and images sensibly', async () => {
    const r = await renderCard(fakeLinehub());
    const tags = r.findAll(Tag).map((x) => x.text);
    expect(tags).toContain('Sticker');
    expect(textOf(r)).toContain('happy, hello');
    // An image with a public URL is shown; a LINE-hosted one cannot be
    // fetched by HubSpot and points to linehub instead.
    const img = r.find(Image, { alt: 'Image' });
    expect(img.props.src).toBe('https://cdn.example.com/menu-small.jpg');
    expect(tags).toContain('Image (open the conversation in linehub to see it)');
    expect(textOf(r)).toContain('LINE did not confirm this one');
    expect(textOf(r)).toContain('Older messages are in linehub.');
  });

  it('says so when the contact is not a LINE friend', async () => {
    const lh = fakeLinehub({ card: { contact_id: '501', friends: [] } });
    const r = await renderCard(lh);
    expect(r.findByTestId(Text, 'not-friend').text).toBe('This contact is not a LINE friend of any linehub connection.');
    expect(r.maybeFind(TextArea)).toBeNull();
  });

  it('speaks Japanese to a Japanese HubSpot user', async () => {
    const r = await renderCard(fakeLinehub(), context({ user: { locale: 'ja-jp', language: 'ja' } }));
    const text = textOf(r);
    expect(text).toContain('接続: Shop Shibuya');
    expect(['follow-1', 'follow-2'].map((id) => r.findByTestId(Tag, id)).map((t) => t.text)).toEqual(['フォロー中', 'ブロック']);
    expect(['unanswered-1', 'unanswered-2'].map((id) => r.findByTestId(Tag, id)).map((t) => t.text)).toEqual(['未返信', '返信済み']);
    expect(r.findByTestId(Button, 'send-text-1').text).toBe('送信');
    expect(r.findAll(Link)[0].text).toBe('linehubで会話を開く');
  });

  it('shows linehub refusal and retries the load', async () => {
    const lh = fakeLinehub({ cardStatus: 401, card: { error: 'signature is not valid' } });
    const r = await renderCard(lh);
    const alert = r.find(Alert);
    expect(alert.props.title).toBe('Could not load LINE data from linehub');
    expect(alert.text).toContain('signature is not valid');
    lh.set({ cardStatus: 200, card: cardData() });
    r.findByTestId(Button, 'retry').trigger('onClick');
    await r.waitFor(() => expect(textOf(r)).toContain('Taro Yamada'));
  });

  it('sends a reply with one key per message: a retried click reuses it, the next message gets a new one', async () => {
    const lh = fakeLinehub();
    const r = await renderCard(lh);
    const area = () => r.findAll(TextArea)[0];
    const sendBtn = () => r.findByTestId(Button, 'send-text-1');
    expect(sendBtn().props.disabled).toBe(true);
    area().trigger('onChange', 'See you tomorrow');
    await r.waitFor(() => expect(sendBtn().props.disabled).toBe(false));

    // The first attempt times out: the answer is unknown, the text stays.
    lh.set({ replyFail: new Error('request timed out') });
    sendBtn().trigger('onClick');
    await r.waitFor(() => expect(r.find(Alert).text).toContain('request timed out'));
    expect(area().props.value).toBe('See you tomorrow');

    // The second click is the same message: same key.
    lh.set({ replyFail: null, reply: { status: 'sent', via: 'push', duplicate: false } });
    sendBtn().trigger('onClick');
    await r.waitFor(() => expect(r.find(Alert).props.title).toBe('Sent (push message).'));
    const replies = lh.calls.filter((c) => c.options.method === 'POST');
    expect(replies.map((c) => c.options.body.key)).toEqual(['key-1', 'key-1']);
    expect(replies[0].options.body).toEqual({
      text: 'See you tomorrow',
      connectionId: 1,
      userId: 'U4af4980629',
      key: 'key-1',
      contactId: '501',
    });
    await r.waitFor(() => expect(area().props.value).toBe(''));

    // A new message is a new key.
    area().trigger('onChange', 'One more thing');
    await r.waitFor(() => expect(sendBtn().props.disabled).toBe(false));
    lh.set({ reply: { status: 'sent', via: 'reply', duplicate: false } });
    sendBtn().trigger('onClick');
    await r.waitFor(() => expect(r.find(Alert).props.title).toBe('Sent (free reply).'));
    const keys = lh.calls.filter((c) => c.options.method === 'POST').map((c) => c.options.body.key);
    expect(keys).toEqual(['key-1', 'key-1', 'key-2']);
  });

  it('says when linehub had sent the message already', async () => {
    const lh = fakeLinehub({ reply: { status: 'duplicate', via: 'push', duplicate: true } });
    const r = await renderCard(lh);
    r.findAll(TextArea)[0].trigger('onChange', 'Hi');
    await r.waitFor(() => expect(r.findByTestId(Button, 'send-text-1').props.disabled).toBe(false));
    r.findByTestId(Button, 'send-text-1').trigger('onClick');
    await r.waitFor(() => expect(r.find(Alert).props.title).toBe('This message was sent already; it was not sent again.'));
  });

  it('picks a template, previews it for this contact, and sends it', async () => {
    const lh = fakeLinehub();
    const r = await renderCard(lh);
    const sel = () => r.findAll(Select)[0];
    await r.waitFor(() => expect(sel()).toBeTruthy());
    expect(sel().props.options).toEqual([
      { label: 'Opening hours', value: '3' },
      { label: 'Coupon', value: '4' },
    ]);
    sel().trigger('onChange', '3');
    await r.waitFor(() => expect(r.findByTestId(Button, 'send-template-1')).toBeTruthy());
    expect(textOf(r)).toContain('Hello Taro, we are open 10:00-20:00.');
    r.findByTestId(Button, 'send-template-1').trigger('onClick');
    await r.waitFor(() => expect(r.find(Alert).props.title).toBe('Sent (push message).'));
    const post = lh.calls.find((c) => c.options.method === 'POST');
    expect(post.options.body).toEqual({ templateId: 3, connectionId: 1, userId: 'U4af4980629', key: 'key-1', contactId: '501' });
  });

  it('will not send a template the contact lacks values for', async () => {
    const lh = fakeLinehub();
    const r = await renderCard(lh);
    await r.waitFor(() => expect(r.findAll(Select)[0]).toBeTruthy());
    r.findAll(Select)[0].trigger('onChange', '4');
    await r.waitFor(() => expect(r.findByTestId(Button, 'send-template-1')).toBeTruthy());
    expect(r.find(Alert).props.title).toBe('This contact has no value for: coupon_code');
    expect(r.findByTestId(Button, 'send-template-1').props.disabled).toBe(true);
  });
});
