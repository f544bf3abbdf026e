import React from 'react';
import { describe, expect, it } from 'vitest';
import { Alert, Button, Image, Input, Link, LoadingSpinner, Select, Tag, Text, TextArea } from '@hubspot/ui-extensions';
import { createRenderer } from '@hubspot/ui-extensions/testing';

import { LineCard, TEXT, makeApi, pickLang } from './LineCard.jsx';
import { cardData, fakeLinehub, refusals } from './testdata.js';

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

  it('shows linehub refusal in words by its code, the English text as detail, and retries the load', async () => {
    const lh = fakeLinehub({ cardStatus: 401, card: { error: 'X-HubSpot-Signature-v3 does not match', code: 'bad_signature' } });
    const r = await renderCard(lh);
    const alert = r.findByTestId(Alert, 'load-error');
    expect(alert.props.title).toBe('Could not load LINE data from linehub');
    expect(allText(alert)).toContain('linehub could not verify that this request came from your HubSpot app.');
    expect(allText(alert)).toContain('Details from linehub: X-HubSpot-Signature-v3 does not match');
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
    await r.waitFor(() => expect(allText(r.find(Alert))).toContain('linehub did not answer. Try again'));
    expect(allText(r.find(Alert))).toContain('request timed out');
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

// Open the link panel, search, and choose a friend.
async function chooseFriend(r, q, testId) {
  r.findByTestId(Button, 'link-open').trigger('onClick');
  await r.waitFor(() => expect(r.maybeFind(Input, { name: 'link-q' })).toBeTruthy());
  r.find(Input, { name: 'link-q' }).trigger('onChange', q);
  await r.waitFor(() => expect(r.findByTestId(Button, 'link-search').props.disabled).toBe(false));
  r.findByTestId(Button, 'link-search').trigger('onClick');
  await r.waitFor(() => expect(r.findByTestId(Button, testId)).toBeTruthy());
  r.findByTestId(Button, testId).trigger('onClick');
  await r.waitFor(() => expect(r.findByTestId(Button, 'link')).toBeTruthy());
}

const posts = (lh, path) => lh.calls.filter((c) => c.options.method === 'POST' && new URL(c.url).pathname === path);

describe('linking from the card', () => {
  it('sends the link requests to linehub with the contact id', async () => {
    const lh = fakeLinehub();
    const api = makeApi(lh.fetch, BASE, 501);
    await api.linkFriends('Hanako Sato');
    await api.link({ connectionId: 1, userId: 'U1', reason: '' });
    await api.unlink({ connectionId: 1, userId: 'U1', reason: 'wrong person' });
    expect(lh.calls.map((c) => `${c.options.method} ${c.url}`)).toEqual([
      `GET ${BASE}/hubspot/app/card/link/friends?contactId=501&q=Hanako%20Sato`,
      `POST ${BASE}/hubspot/app/card/link?contactId=501`,
      `POST ${BASE}/hubspot/app/card/unlink?contactId=501`,
    ]);
    for (const c of lh.calls) {
      expect(c.options.timeout).toBeLessThanOrEqual(15000);
    }
    expect(lh.calls[2].options.body).toEqual({ connectionId: 1, userId: 'U1', reason: 'wrong person', contactId: '501' });
  });

  it('finds a friend, says the dummy-email contact will be merged, links it and reloads', async () => {
    const lh = fakeLinehub({ card: { contact_id: '501', friends: [] } });
    const r = await renderCard(lh);
    await chooseFriend(r, 'hanako', 'link-pick-1-Uc0ffee0001');
    // Each result says where the friend is now; this contact's own friend
    // cannot be chosen again.
    expect(textOf(r)).toContain('Connection: Shop Shibuya · Has a HubSpot contact of its own now');
    expect(textOf(r)).toContain('Connection: Shop Umeda · No HubSpot contact yet');
    const box = r.find(Alert, { variant: 'warning' });
    expect(box.props.title).toBe('Link Hanako Sato (Shop Shibuya) to this contact?');
    expect(box.text).toContain('with a dummy email, is merged into this contact: this contact keeps its email, name and owner');
    r.find(Input, { name: 'link-reason' }).trigger('onChange', 'same person, checked by phone');
    lh.set({ card: cardData() });
    r.findByTestId(Button, 'link').trigger('onClick');
    await r.waitFor(() => expect(r.findByTestId(Alert, 'notice').props.title).toBe('Linked: Hanako Sato now updates this contact.'));
    expect(r.findByTestId(Alert, 'notice').text).toBe('Its LINE contact (id 9001) was merged into this one.');
    expect(posts(lh, '/hubspot/app/card/link').map((c) => c.options.body)).toEqual([
      { connectionId: 1, userId: 'Uc0ffee0001', reason: 'same person, checked by phone', contactId: '501' },
    ]);
    // The card shows the friend now.
    await r.waitFor(() => expect(textOf(r)).toContain('Taro Yamada'));
    expect(r.maybeFind(Input, { name: 'link-q' })).toBeNull();
  });

  it('a friend without a contact gets no merge warning; this contact\'s own friend cannot be picked', async () => {
    const r = await renderCard(fakeLinehub({ card: { contact_id: '501', friends: [] } }));
    await chooseFriend(r, 'hanako', 'link-pick-2-Uc0ffee0002');
    expect(r.find(Alert, { variant: 'warning' }).text).toBe("This contact gets the friend's LINE properties, and from now on LINE updates this contact.");
    r.findByTestId(Button, 'link-cancel').trigger('onClick');
    r.find(Input, { name: 'link-q' }).trigger('onChange', 'taro');
    await r.waitFor(() => expect(r.findByTestId(Button, 'link-search').props.disabled).toBe(false));
    r.findByTestId(Button, 'link-search').trigger('onClick');
    await r.waitFor(() => expect(r.findByTestId(Button, 'link-pick-1-U4af4980629')).toBeTruthy());
    expect(r.findByTestId(Button, 'link-pick-1-U4af4980629').props.disabled).toBe(true);
    expect(textOf(r)).toContain('Linked to this contact');
  });

  it('follows the new id HubSpot gives the merged contact', async () => {
    const lh = fakeLinehub({ link: { status: 200, body: { outcome: 'linked', contact_id: '777', merged: '9001' } } });
    const r = await renderCard(lh);
    await chooseFriend(r, 'hanako', 'link-pick-1-Uc0ffee0001');
    r.findByTestId(Button, 'link').trigger('onClick');
    await r.waitFor(() => expect(r.findByTestId(Alert, 'notice').text).toContain('HubSpot gave the merged contact a new id'));
    await r.waitFor(() => expect(lh.calls.at(-1).url).toBe(`${BASE}/hubspot/app/card?contactId=777`));
  });

  it('words each refusal for a person, keeps the English as detail, and changes nothing', async () => {
    const want = {
      taken: 'This contact is linked to another LINE friend of the same LINE account already. Unlink that friend first.',
      elsewhere: "This LINE friend is linked to another customer's contact. Unlink it on that contact's card",
      gone: 'This contact no longer exists in HubSpot. Nothing was linked.',
      busy: 'A link of this LINE friend is still being finished. Try again in a minute.',
    };
    for (const [name, words] of Object.entries(want)) {
      const lh = fakeLinehub({ link: refusals[name] });
      const r = await renderCard(lh);
      await chooseFriend(r, 'hanako', 'link-pick-1-Uc0ffee0001');
      const cardLoads = lh.calls.filter((c) => new URL(c.url).pathname === '/hubspot/app/card').length;
      r.findByTestId(Button, 'link').trigger('onClick');
      await r.waitFor(() => expect(r.findByTestId(Alert, 'link-error')).toBeTruthy());
      const alert = r.findByTestId(Alert, 'link-error');
      expect(alert.props.title).toBe('Not linked');
      expect(allText(alert)).toContain(words);
      expect(allText(alert)).toContain(`Details from linehub: ${refusals[name].body.error}`);
      expect(r.maybeFind(Alert, { title: 'Linked: Hanako Sato now updates this contact.' })).toBeNull();
      expect(lh.calls.filter((c) => new URL(c.url).pathname === '/hubspot/app/card').length).toBe(cardLoads);
    }
  });

  it('retries a link whose answer was lost with the same request; "already" then means done', async () => {
    const lh = fakeLinehub({ link: new Error('request timed out') });
    const r = await renderCard(lh);
    await chooseFriend(r, 'hanako', 'link-pick-1-Uc0ffee0001');
    r.findByTestId(Button, 'link').trigger('onClick');
    await r.waitFor(() => expect(allText(r.findByTestId(Alert, 'link-error'))).toContain('linehub did not answer. Try again'));
    lh.set({ link: { status: 200, body: { outcome: 'already', contact_id: '501' } } });
    r.findByTestId(Button, 'link').trigger('onClick');
    await r.waitFor(() => expect(r.findByTestId(Alert, 'notice').props.title).toBe('Linked: Hanako Sato now updates this contact.'));
    const bodies = posts(lh, '/hubspot/app/card/link').map((c) => c.options.body);
    expect(bodies).toHaveLength(2);
    expect(bodies[1]).toEqual(bodies[0]);
  });

  it('says a first link that finds the friend linked here already changed nothing', async () => {
    const r = await renderCard(fakeLinehub({ link: { status: 200, body: { outcome: 'already', contact_id: '501' } } }));
    await chooseFriend(r, 'hanako', 'link-pick-2-Uc0ffee0002');
    r.findByTestId(Button, 'link').trigger('onClick');
    await r.waitFor(() => expect(r.findByTestId(Alert, 'notice').props.title).toBe('This LINE friend was linked to this contact already: nothing changed.'));
  });

  it('unlinks a friend only with a reason, after saying what happens', async () => {
    const lh = fakeLinehub();
    const r = await renderCard(lh);
    r.findByTestId(Button, 'unlink-open-1').trigger('onClick');
    await r.waitFor(() => expect(r.findByTestId(Button, 'unlink-1')).toBeTruthy());
    expect(r.find(Alert, { title: 'Unlink Taro Yamada from this contact?' }).text).toContain('The LINE properties on this contact are emptied');
    expect(r.findByTestId(Button, 'unlink-1').props.disabled).toBe(true);
    r.find(Input, { name: 'unlink-reason-1-U4af4980629' }).trigger('onChange', 'wrong person');
    await r.waitFor(() => expect(r.findByTestId(Button, 'unlink-1').props.disabled).toBe(false));
    lh.set({ card: { contact_id: '501', friends: [cardData().friends[1]] } });
    r.findByTestId(Button, 'unlink-1').trigger('onClick');
    await r.waitFor(() => expect(r.findByTestId(Alert, 'notice').props.title).toBe('Unlinked: Taro Yamada no longer updates this contact.'));
    expect(posts(lh, '/hubspot/app/card/unlink').map((c) => c.options.body)).toEqual([
      { connectionId: 1, userId: 'U4af4980629', reason: 'wrong person', contactId: '501' },
    ]);
    await r.waitFor(() => expect(textOf(r)).not.toContain('Taro Yamada'));
  });

  it('shows an unlink refusal in words, and a retry that finds it done as done', async () => {
    const lh = fakeLinehub({ unlink: refusals.busy });
    const r = await renderCard(lh);
    r.findByTestId(Button, 'unlink-open-1').trigger('onClick');
    await r.waitFor(() => expect(r.maybeFind(Input, { name: 'unlink-reason-1-U4af4980629' })).toBeTruthy());
    r.find(Input, { name: 'unlink-reason-1-U4af4980629' }).trigger('onChange', 'moved away');
    await r.waitFor(() => expect(r.findByTestId(Button, 'unlink-1').props.disabled).toBe(false));
    r.findByTestId(Button, 'unlink-1').trigger('onClick');
    await r.waitFor(() => expect(r.findByTestId(Alert, 'unlink-error-1')).toBeTruthy());
    expect(r.findByTestId(Alert, 'unlink-error-1').props.title).toBe('Not unlinked');
    expect(allText(r.findByTestId(Alert, 'unlink-error-1'))).toContain('A link of this LINE friend is still being finished.');
    // The first attempt went through after all: linehub says not linked.
    lh.set({ unlink: refusals.notLinked });
    r.findByTestId(Button, 'unlink-1').trigger('onClick');
    await r.waitFor(() =>
      expect(r.findByTestId(Alert, 'notice').props.title).toBe('This LINE friend is not linked to this contact any more: nothing changed.'),
    );
    const bodies = posts(lh, '/hubspot/app/card/unlink').map((c) => c.options.body);
    expect(bodies).toHaveLength(2);
    expect(bodies[1]).toEqual(bodies[0]);
  });

  it('speaks Japanese to a Japanese HubSpot user', async () => {
    const lh = fakeLinehub({ card: { contact_id: '501', friends: [] }, link: refusals.elsewhere });
    const r = await renderCard(lh, context({ user: { locale: 'ja-jp', language: 'ja' } }));
    expect(r.findByTestId(Button, 'link-open').text).toBe('LINE友だちをこのコンタクトにリンク');
    await chooseFriend(r, 'hanako', 'link-pick-1-Uc0ffee0001');
    expect(r.find(Alert, { variant: 'warning' }).props.title).toBe('Hanako Sato（Shop Shibuya）をこのコンタクトにリンクしますか？');
    expect(r.find(Alert, { variant: 'warning' }).text).toContain('ダミーのメールアドレス');
    expect(r.findByTestId(Button, 'link').text).toBe('リンク');
    r.findByTestId(Button, 'link').trigger('onClick');
    await r.waitFor(() => expect(r.findByTestId(Alert, 'link-error')).toBeTruthy());
    expect(r.findByTestId(Alert, 'link-error').props.title).toBe('リンクできませんでした');
    expect(allText(r.findByTestId(Alert, 'link-error'))).toContain('このLINE友だちは別の顧客のコンタクトにリンクされています。');
    expect(allText(r.findByTestId(Alert, 'link-error'))).toContain('linehubからの詳細: this LINE account is already linked to another HubSpot contact');
  });

  it('has every error code in both languages', () => {
    expect(Object.keys(TEXT.ja.errors).sort()).toEqual(Object.keys(TEXT.en.errors).sort());
    expect(Object.keys(TEXT.ja).sort()).toEqual(Object.keys(TEXT.en).sort());
  });
});
