// The "LINE" card on HubSpot contact records: for each linehub connection
// where this contact is a LINE friend, the friend, the recent conversation,
// a reply box and a template picker. It talks only to linehub, through
// hubspot.fetch: HubSpot signs each request with the app's client secret
// (X-HubSpot-Signature-v3) and appends userId, userEmail, portalId and appId
// to the URL, and linehub answers only for the portal and contact signed.
import React, { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import {
  Alert,
  Button,
  Divider,
  Flex,
  Image,
  Input,
  Link,
  LoadingSpinner,
  Select,
  Tag,
  Text,
  TextArea,
  hubspot,
} from '@hubspot/ui-extensions';

// LINEHUB_URL is linehub's public HTTPS URL; the exported project replaces
// the placeholder (it must match the app's permitted fetch URL
// https://PUBLIC/hubspot/app/).
export const LINEHUB_URL = '__LINEHUB_PUBLIC_URL__';

// hubspot.fetch gives up after 15 s; linehub answers sooner, and a reply
// that outlives the timeout is retried with the same key (sent once).
const READ_TIMEOUT_MS = 10000;
const SEND_TIMEOUT_MS = 14000;

const TEXT = {
  en: {
    loading: 'Loading LINE conversations…',
    notFriend: 'This contact is not a LINE friend of any linehub connection.',
    loadFailed: 'Could not load LINE data from linehub',
    retry: 'Try again',
    following: 'Following',
    blocked: 'Blocked',
    unanswered: 'Unanswered',
    answered: 'Answered',
    noMessages: 'No messages yet.',
    friend: 'Friend',
    you: 'Sent',
    viaReply: 'reply',
    viaPush: 'push',
    unconfirmed: 'LINE did not confirm this one: it may not have arrived.',
    olderInLinehub: 'Older messages are in linehub.',
    sticker: 'Sticker',
    image: 'Image',
    imageInLinehub: 'Image (open the conversation in linehub to see it)',
    video: 'Video',
    audio: 'Audio',
    file: 'File',
    location: 'Location',
    message: 'Message',
    replyLabel: 'Reply',
    replyPlaceholder: 'Write a message to send on LINE',
    send: 'Send',
    sending: 'Sending…',
    template: 'Template',
    templatePlaceholder: 'Choose a template',
    noTemplates: 'No templates yet: create them in linehub.',
    preview: 'Preview',
    missing: 'This contact has no value for: ',
    sendTemplate: 'Send template',
    sentReply: 'Sent (free reply).',
    sentPush: 'Sent (push message).',
    sentDuplicate: 'This message was sent already; it was not sent again.',
    sendFailed: 'Not sent',
    openInLinehub: 'Open the conversation in linehub',
    connection: 'Connection',
    detail: 'Details from linehub',
    linkOpen: 'Link a LINE friend to this contact',
    linkTitle: 'Link a LINE friend to this contact',
    linkSearchLabel: 'Search LINE friends',
    linkSearchPlaceholder: 'Display name or LINE user id',
    linkSearch: 'Search',
    linkSearching: 'Searching…',
    linkNone: 'No LINE friend matches.',
    linkChoose: 'Choose',
    linkStateThis: 'Linked to this contact',
    linkStateOwn: 'Has a HubSpot contact of its own now',
    linkStateNone: 'No HubSpot contact yet',
    linkConfirmTitle: (name, conn) => `Link ${name} (${conn}) to this contact?`,
    linkConfirmMerge:
      'The contact linehub made for this LINE friend, the one with a dummy email, is merged into this contact: this contact keeps its email, name and owner, and from now on LINE updates this contact. If that contact belongs to another customer, linehub refuses and changes nothing.',
    linkConfirmNew: 'This contact gets the friend\'s LINE properties, and from now on LINE updates this contact.',
    reasonOptional: 'Reason (optional, kept in the link record)',
    link: 'Link',
    linking: 'Linking…',
    cancel: 'Cancel',
    linked: (name) => `Linked: ${name} now updates this contact.`,
    linkedMerged: (id) => `Its LINE contact (id ${id}) was merged into this one.`,
    linkedNewId: 'HubSpot gave the merged contact a new id; reload the page if this record looks out of date.',
    linkAlready: 'This LINE friend was linked to this contact already: nothing changed.',
    linkPending: 'Recorded: linehub finishes it as soon as HubSpot answers.',
    linkFailed: 'Not linked',
    unlinkOpen: 'Unlink',
    unlinkConfirmTitle: (name) => `Unlink ${name} from this contact?`,
    unlinkConfirmBody:
      'The LINE properties on this contact are emptied and LINE no longer updates it. linehub gives the friend a LINE contact of its own again at its next message or follow.',
    reasonRequired: 'Reason (required, kept in the link record)',
    unlinking: 'Unlinking…',
    unlinked: (name) => `Unlinked: ${name} no longer updates this contact.`,
    unlinkGoneAlready: 'This LINE friend is not linked to this contact any more: nothing changed.',
    unlinkFailed: 'Not unlinked',
    errors: {
      bad_signature:
        "linehub could not verify that this request came from your HubSpot app. Check the app's client secret in linehub (Settings → HubSpot app) and that linehub's clock is right.",
      app_not_set_up: 'The HubSpot app is not set up in linehub yet: paste its client secret under Settings → HubSpot app.',
      other_portal: 'This linehub serves another HubSpot account.',
      portal_unknown: "linehub does not know its HubSpot account yet: save the HubSpot key in linehub's Settings.",
      bad_request: 'linehub did not understand the request. Reload the page and try again.',
      too_large: 'The request is too large for linehub.',
      not_found: 'linehub did not find what was asked for.',
      no_friend: 'linehub does not know this LINE friend. Nothing was linked.',
      not_linked: 'This LINE friend is not linked to this contact. Nothing was changed.',
      linking_off: 'Linking is not available in this linehub.',
      contact_gone: 'This contact no longer exists in HubSpot. Nothing was linked.',
      contact_taken:
        'This contact is linked to another LINE friend of the same LINE account already. Unlink that friend first. Nothing was linked.',
      linked_elsewhere:
        "This LINE friend is linked to another customer's contact. Unlink it on that contact's card (or move it on linehub's friends page) first. Nothing was linked.",
      busy: 'A link of this LINE friend is still being finished. Try again in a minute.',
      no_template: 'This template no longer exists. Nothing was sent.',
      missing_values: 'This contact lacks a value the template needs. Nothing was sent.',
      not_sendable: 'LINE cannot deliver to this friend (blocked, or no longer a friend). Nothing was sent.',
      quota: "This month's LINE message quota is used up. Nothing was sent.",
      rate_limited: 'Too many requests just now. Wait a moment and try again.',
      key_reused: 'linehub did not send it, to avoid sending twice. Write the message again.',
      upstream: 'LINE or HubSpot did not answer linehub properly. Try again in a moment.',
      unavailable: 'linehub is busy or restarting. Try again in a moment.',
      internal: "Something went wrong in linehub; linehub's log has the details.",
      unknown: 'linehub refused the request.',
      network: 'linehub did not answer. Try again: a retry never does anything twice.',
    },
  },
  ja: {
    loading: 'LINEの会話を読み込んでいます…',
    notFriend: 'このコンタクトはどのlinehub接続のLINE友だちでもありません。',
    loadFailed: 'linehubからLINEのデータを読み込めませんでした',
    retry: '再試行',
    following: 'フォロー中',
    blocked: 'ブロック',
    unanswered: '未返信',
    answered: '返信済み',
    noMessages: 'まだメッセージはありません。',
    friend: '友だち',
    you: '送信',
    viaReply: '応答',
    viaPush: 'プッシュ',
    unconfirmed: 'LINEから確認が取れていません。届いていない可能性があります。',
    olderInLinehub: 'それより前のメッセージはlinehubで見られます。',
    sticker: 'スタンプ',
    image: '画像',
    imageInLinehub: '画像（linehubで会話を開くと見られます）',
    video: '動画',
    audio: '音声',
    file: 'ファイル',
    location: '位置情報',
    message: 'メッセージ',
    replyLabel: '返信',
    replyPlaceholder: 'LINEで送るメッセージを入力',
    send: '送信',
    sending: '送信中…',
    template: 'テンプレート',
    templatePlaceholder: 'テンプレートを選択',
    noTemplates: 'テンプレートはまだありません。linehubで作成してください。',
    preview: 'プレビュー',
    missing: 'このコンタクトには次の値がありません: ',
    sendTemplate: 'テンプレートを送信',
    sentReply: '送信しました（無料の応答メッセージ）。',
    sentPush: '送信しました（プッシュメッセージ）。',
    sentDuplicate: 'このメッセージは送信済みです。再送はしていません。',
    sendFailed: '送信できませんでした',
    openInLinehub: 'linehubで会話を開く',
    connection: '接続',
    detail: 'linehubからの詳細',
    linkOpen: 'LINE友だちをこのコンタクトにリンク',
    linkTitle: 'LINE友だちをこのコンタクトにリンク',
    linkSearchLabel: 'LINE友だちを検索',
    linkSearchPlaceholder: '表示名またはLINEユーザーID',
    linkSearch: '検索',
    linkSearching: '検索中…',
    linkNone: '該当するLINE友だちはいません。',
    linkChoose: '選択',
    linkStateThis: 'このコンタクトにリンク済み',
    linkStateOwn: '現在は専用のHubSpotコンタクトがあります',
    linkStateNone: 'HubSpotコンタクトはまだありません',
    linkConfirmTitle: (name, conn) => `${name}（${conn}）をこのコンタクトにリンクしますか？`,
    linkConfirmMerge:
      'linehubがこのLINE友だち用に作成したコンタクト（ダミーのメールアドレスのもの）は、このコンタクトに統合されます。このコンタクトのメールアドレス・名前・担当者はそのまま残り、今後LINEの情報はこのコンタクトに反映されます。そのコンタクトが別の顧客のものであれば、linehubはリンクを拒否し何も変更しません。',
    linkConfirmNew: 'このコンタクトに友だちのLINEプロパティが入り、今後LINEの情報はこのコンタクトに反映されます。',
    reasonOptional: '理由（任意・リンクの記録に残ります）',
    link: 'リンク',
    linking: 'リンク中…',
    cancel: 'キャンセル',
    linked: (name) => `リンクしました。今後${name}のLINEの情報はこのコンタクトに反映されます。`,
    linkedMerged: (id) => `友だちのLINEコンタクト（ID ${id}）はこのコンタクトに統合されました。`,
    linkedNewId: 'HubSpotが統合後のコンタクトに新しいIDを付けました。表示が古い場合はページを再読み込みしてください。',
    linkAlready: 'このLINE友だちはすでにこのコンタクトにリンクされています。何も変更していません。',
    linkPending: '記録しました。HubSpotが応答しだいlinehubが完了させます。',
    linkFailed: 'リンクできませんでした',
    unlinkOpen: 'リンク解除',
    unlinkConfirmTitle: (name) => `${name}とこのコンタクトのリンクを解除しますか？`,
    unlinkConfirmBody:
      'このコンタクトのLINEプロパティは空になり、今後LINEの情報は反映されません。友だちが次にメッセージを送るかフォローすると、linehubはその友だち専用のLINEコンタクトを再び作成します。',
    reasonRequired: '理由（必須・リンクの記録に残ります）',
    unlinking: '解除中…',
    unlinked: (name) => `リンクを解除しました。${name}のLINEの情報はこのコンタクトに反映されなくなります。`,
    unlinkGoneAlready: 'このLINE友だちはすでにこのコンタクトにリンクされていません。何も変更していません。',
    unlinkFailed: 'リンクを解除できませんでした',
    errors: {
      bad_signature:
        'このリクエストがあなたのHubSpotアプリから来たことをlinehubが確認できませんでした。linehubの「設定 → HubSpotアプリ」のクライアントシークレットと、linehubの時計を確認してください。',
      app_not_set_up: 'linehubでHubSpotアプリがまだ設定されていません。「設定 → HubSpotアプリ」にクライアントシークレットを貼り付けてください。',
      other_portal: 'このlinehubは別のHubSpotアカウント用です。',
      portal_unknown: 'linehubはまだ自分のHubSpotアカウントを知りません。linehubの設定でHubSpotのキーを保存してください。',
      bad_request: 'linehubがリクエストを理解できませんでした。ページを再読み込みしてもう一度お試しください。',
      too_large: 'リクエストが大きすぎます。',
      not_found: 'linehubで見つかりませんでした。',
      no_friend: 'linehubはこのLINE友だちを知りません。何もリンクしていません。',
      not_linked: 'このLINE友だちはこのコンタクトにリンクされていません。何も変更していません。',
      linking_off: 'このlinehubではリンク機能を使えません。',
      contact_gone: 'このコンタクトはHubSpotにもうありません。何もリンクしていません。',
      contact_taken:
        'このコンタクトは、同じLINEアカウントの別の友だちにすでにリンクされています。先にその友だちのリンクを解除してください。何もリンクしていません。',
      linked_elsewhere:
        'このLINE友だちは別の顧客のコンタクトにリンクされています。先にそのコンタクトのカードでリンクを解除してください（またはlinehubの友だちページで移動してください）。何もリンクしていません。',
      busy: 'このLINE友だちのリンク処理がまだ終わっていません。1分ほどしてからもう一度お試しください。',
      no_template: 'このテンプレートはもうありません。送信していません。',
      missing_values: 'テンプレートに必要な値がこのコンタクトにありません。送信していません。',
      not_sendable: 'この友だちにはLINEで届けられません（ブロック中、または友だちではありません）。送信していません。',
      quota: '今月のLINEメッセージ送信数の上限に達しました。送信していません。',
      rate_limited: 'リクエストが多すぎます。少し待ってからもう一度お試しください。',
      key_reused: '二重送信を防ぐため送信しませんでした。メッセージを入力し直してください。',
      upstream: 'LINEまたはHubSpotがlinehubに正しく応答しませんでした。少ししてからもう一度お試しください。',
      unavailable: 'linehubが混み合っているか再起動中です。少ししてからもう一度お試しください。',
      internal: 'linehubで問題が起きました。詳細はlinehubのログにあります。',
      unknown: 'linehubがリクエストを断りました。',
      network: 'linehubから応答がありませんでした。もう一度お試しください。再試行しても二重に実行されることはありません。',
    },
  },
};

// pickLang follows the HubSpot user's language: Japanese for ja, ja-JP,
// ja-jp; English otherwise.
export function pickLang(user) {
  const l = String((user && (user.language || user.locale)) || '').toLowerCase();
  return l === 'ja' || l.startsWith('ja-') || l.startsWith('ja_') ? 'ja' : 'en';
}

// newKey is one idempotency key: made when a message is first sent and
// kept for every retry of that same message, so linehub sends it once.
export function newKey() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') {
    return c.randomUUID();
  }
  let s = '';
  for (let i = 0; i < 32; i++) {
    s += Math.floor(Math.random() * 16).toString(16);
  }
  return s;
}

// formatTime shows a message time in the portal's time zone.
export function formatTime(ms, lang, timeZone) {
  if (!ms) {
    return '';
  }
  const opts = { month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit' };
  try {
    return new Date(ms).toLocaleString(lang === 'ja' ? 'ja-JP' : 'en-US', timeZone ? { ...opts, timeZone } : opts);
  } catch {
    return new Date(ms).toLocaleString(lang === 'ja' ? 'ja-JP' : 'en-US', opts);
  }
}

async function readJSON(res) {
  try {
    return await res.json();
  } catch {
    return {};
  }
}

// api wraps the fetcher (hubspot.fetch in HubSpot, a double in tests).
export function makeApi(fetcher, base, contactId) {
  const root = `${base}/hubspot/app/card`;
  const cid = encodeURIComponent(String(contactId));
  const call = async (url, options) => {
    const res = await fetcher(url, options);
    const body = await readJSON(res);
    if (!res.ok) {
      // linehub's refusals carry a code the card words in the user's
      // language (TEXT.errors) and the English text as the detail.
      const err = new Error(body.error || `HTTP ${res.status}`);
      err.status = res.status;
      err.code = body.code || '';
      err.detail = body.error || '';
      throw err;
    }
    return body;
  };
  return {
    card: () => call(`${root}?contactId=${cid}`, { method: 'GET', timeout: READ_TIMEOUT_MS }),
    templates: () => call(`${root}/templates?contactId=${cid}`, { method: 'GET', timeout: READ_TIMEOUT_MS }),
    preview: (id) =>
      call(`${root}/templates/preview?contactId=${cid}&templateId=${encodeURIComponent(String(id))}`, {
        method: 'GET',
        timeout: READ_TIMEOUT_MS,
      }),
    reply: (body) =>
      call(`${root}/reply?contactId=${cid}`, {
        method: 'POST',
        timeout: SEND_TIMEOUT_MS,
        body: { ...body, contactId: String(contactId) },
      }),
    linkFriends: (q) =>
      call(`${root}/link/friends?contactId=${cid}&q=${encodeURIComponent(q)}`, { method: 'GET', timeout: READ_TIMEOUT_MS }),
    link: (body) =>
      call(`${root}/link?contactId=${cid}`, { method: 'POST', timeout: SEND_TIMEOUT_MS, body: { ...body, contactId: String(contactId) } }),
    unlink: (body) =>
      call(`${root}/unlink?contactId=${cid}`, { method: 'POST', timeout: SEND_TIMEOUT_MS, body: { ...body, contactId: String(contactId) } }),
  };
}

// errorText words a failed request for a person: linehub's refusal by its
// code, an answer without one by its kind, no answer at all (hubspot.fetch
// timed out or the network failed) as such.
export function errorText(t, err) {
  if (err && err.code && t.errors[err.code]) {
    return t.errors[err.code];
  }
  if (err && err.status) {
    return t.errors.unknown;
  }
  return t.errors.network;
}

// ErrorAlert shows a failed request: the words for the person, then
// linehub's English text as the detail (for whoever runs linehub).
export function ErrorAlert({ title, err, t, testId }) {
  const detail = (err && (err.detail || (!err.status && err.message))) || '';
  return (
    <Alert title={title} variant="error" testId={testId}>
      <Flex direction="column" gap="extra-small">
        <Text>{errorText(t, err)}</Text>
        {detail ? (
          <Text variant="microcopy">
            {t.detail}: {detail}
          </Text>
        ) : null}
      </Flex>
    </Alert>
  );
}

// Part shows one LINE message object as linehub summarised it.
export function Part({ part, t }) {
  switch (part.type) {
    case 'text':
      return <Text>{part.text}</Text>;
    case 'image':
      if (part.preview_url) {
        return <Image src={part.preview_url} alt={t.image} width={160} href={{ url: part.url || part.preview_url, external: true }} />;
      }
      return <Tag variant="default">{t.imageInLinehub}</Tag>;
    case 'sticker':
      return (
        <Flex direction="row" gap="extra-small" align="center">
          <Tag variant="info">{t.sticker}</Tag>
          {part.keywords && part.keywords.length > 0 ? <Text variant="microcopy">{part.keywords.join(', ')}</Text> : null}
        </Flex>
      );
    default: {
      const label = t[part.type] || t.message;
      return (
        <Flex direction="row" gap="extra-small" align="center">
          <Tag variant="default">{label}</Tag>
          {part.text ? <Text variant="microcopy">{part.text}</Text> : null}
        </Flex>
      );
    }
  }
}

function Message({ m, t, lang, timeZone }) {
  const inbound = m.direction === 'in';
  const who = inbound ? t.friend : `${t.you}${m.via ? ` (${m.via === 'reply' ? t.viaReply : m.via === 'push' ? t.viaPush : m.via})` : ''}`;
  return (
    <Flex direction="column" gap="extra-small" align={inbound ? 'start' : 'end'} >
      <Text variant="microcopy" format={{ fontWeight: 'demibold' }}>
        {who} · {formatTime(m.timestamp, lang, timeZone)}
      </Text>
      {(m.parts || []).map((p, i) => (
        <Part key={i} part={p} t={t} />
      ))}
      {m.unconfirmed ? <Text variant="microcopy">{t.unconfirmed}</Text> : null}
    </Flex>
  );
}

function SendResult({ result, t }) {
  if (!result) {
    return null;
  }
  if (result.error) {
    return <ErrorAlert title={t.sendFailed} err={result.error} t={t} />;
  }
  const msg = result.duplicate ? t.sentDuplicate : result.via === 'reply' ? t.sentReply : t.sentPush;
  return <Alert title={msg} variant={result.duplicate ? 'info' : 'success'} />;
}

// Unlink detaches a friend from this contact, after a confirmation that
// says what happens and asks for the reason linehub records.
export function Unlink({ friend, api, t, onDone, onCancel }) {
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState(null);
  const name = friend.display_name || friend.user_id;
  const id = friend.connection_id;
  const submit = async () => {
    if (busy || reason.trim() === '') {
      return;
    }
    setBusy(true);
    setErr(null);
    try {
      const res = await api.unlink({ connectionId: friend.connection_id, userId: friend.user_id, reason: reason.trim() });
      onDone(res.outcome === 'pending' ? { variant: 'info', title: t.linkPending } : { variant: 'success', title: t.unlinked(name) });
    } catch (e) {
      if (e.code === 'not_linked') {
        // A retry of an unlink whose answer was lost, or someone else
        // was quicker: either way the friend is off this contact.
        onDone({ variant: 'info', title: t.unlinkGoneAlready });
        return;
      }
      setErr(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Flex direction="column" gap="small" testId={`unlink-confirm-${id}`}>
      <Alert title={t.unlinkConfirmTitle(name)} variant="warning">
        {t.unlinkConfirmBody}
      </Alert>
      <Input
        label={t.reasonRequired}
        name={`unlink-reason-${id}-${friend.user_id}`}
        value={reason}
        required
        onChange={(v) => setReason(v)}
        onInput={(v) => setReason(v)}
      />
      <Flex direction="row" gap="small">
        <Button variant="destructive" disabled={busy || reason.trim() === ''} testId={`unlink-${id}`} onClick={submit}>
          {busy ? t.unlinking : t.unlinkOpen}
        </Button>
        <Button variant="secondary" disabled={busy} testId={`unlink-cancel-${id}`} onClick={onCancel}>
          {t.cancel}
        </Button>
      </Flex>
      {err ? <ErrorAlert title={t.unlinkFailed} err={err} t={t} testId={`unlink-error-${id}`} /> : null}
    </Flex>
  );
}

// LinkPanel finds a LINE friend linehub knows and links it to this
// contact, after a confirmation that says what happens to the friend's
// own (dummy-email) contact.
export function LinkPanel({ api, t, contactId, onDone }) {
  const [open, setOpen] = useState(false);
  const [q, setQ] = useState('');
  const [found, setFound] = useState(null);
  const [searching, setSearching] = useState(false);
  const [searchErr, setSearchErr] = useState(null);
  const [chosen, setChosen] = useState(null);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState(null);
  // tried is the friend a link was sent for: when a retry (after an
  // answer was lost) hears "already", the first attempt did it.
  const tried = useRef('');

  if (!open) {
    return (
      <Flex direction="row">
        <Button variant="secondary" testId="link-open" onClick={() => setOpen(true)}>
          {t.linkOpen}
        </Button>
      </Flex>
    );
  }
  const search = async () => {
    if (searching || q.trim() === '') {
      return;
    }
    setSearching(true);
    setSearchErr(null);
    setChosen(null);
    try {
      const res = await api.linkFriends(q.trim());
      setFound(res.friends || []);
    } catch (e) {
      setSearchErr(e);
    } finally {
      setSearching(false);
    }
  };
  const choose = (f) => {
    setChosen(f);
    setErr(null);
  };
  const name = (f) => f.display_name || f.user_id;
  const submit = async () => {
    if (busy || !chosen) {
      return;
    }
    const key = `${chosen.connection_id}:${chosen.user_id}`;
    const retry = tried.current === key;
    tried.current = key;
    setBusy(true);
    setErr(null);
    try {
      const res = await api.link({ connectionId: chosen.connection_id, userId: chosen.user_id, reason: reason.trim() });
      if (res.outcome === 'pending') {
        onDone({ variant: 'info', title: t.linkPending });
      } else if (res.outcome === 'already' && !retry) {
        onDone({ variant: 'info', title: t.linkAlready });
      } else {
        const notes = [];
        if (res.merged) {
          notes.push(t.linkedMerged(res.merged));
        }
        const moved = res.contact_id && res.contact_id !== String(contactId);
        if (moved) {
          notes.push(t.linkedNewId);
        }
        onDone({ variant: 'success', title: t.linked(name(chosen)), body: notes.join(' ') }, moved ? res.contact_id : '');
      }
      tried.current = '';
      setOpen(false);
      setFound(null);
      setChosen(null);
      setQ('');
      setReason('');
    } catch (e) {
      // The confirmation stays: clicking Link again repeats the same
      // request, which linehub answers "already" once it is done.
      setErr(e);
    } finally {
      setBusy(false);
    }
  };
  const stateOf = (f) => (f.contact_id === String(contactId) ? t.linkStateThis : f.contact_id ? t.linkStateOwn : t.linkStateNone);
  return (
    <Flex direction="column" gap="small" testId="link-panel">
      <Text format={{ fontWeight: 'bold' }}>{t.linkTitle}</Text>
      <Flex direction="row" gap="small" align="end">
        <Input
          label={t.linkSearchLabel}
          name="link-q"
          placeholder={t.linkSearchPlaceholder}
          value={q}
          onChange={(v) => setQ(v)}
          onInput={(v) => setQ(v)}
        />
        <Button variant="secondary" disabled={searching || q.trim() === ''} testId="link-search" onClick={search}>
          {searching ? t.linkSearching : t.linkSearch}
        </Button>
      </Flex>
      {searchErr ? <ErrorAlert title={t.linkFailed} err={searchErr} t={t} testId="link-search-error" /> : null}
      {found && found.length === 0 ? <Text variant="microcopy">{t.linkNone}</Text> : null}
      {(found || []).map((f) => (
        <Flex key={`${f.connection_id}-${f.user_id}`} direction="row" gap="small" align="center" testId={`link-result-${f.connection_id}-${f.user_id}`}>
          {f.picture_url ? <Image src={f.picture_url} alt={name(f)} width={32} height={32} /> : null}
          <Flex direction="column" gap="flush">
            <Text format={{ fontWeight: 'demibold' }}>{name(f)}</Text>
            <Text variant="microcopy">
              {t.connection}: {f.connection_name} · {stateOf(f)}
            </Text>
          </Flex>
          <Button
            variant="secondary"
            disabled={busy || f.contact_id === String(contactId)}
            testId={`link-pick-${f.connection_id}-${f.user_id}`}
            onClick={() => choose(f)}
          >
            {t.linkChoose}
          </Button>
        </Flex>
      ))}
      {chosen ? (
        <Flex direction="column" gap="small" testId="link-confirm">
          <Alert title={t.linkConfirmTitle(name(chosen), chosen.connection_name)} variant="warning">
            {chosen.contact_id ? t.linkConfirmMerge : t.linkConfirmNew}
          </Alert>
          <Input label={t.reasonOptional} name="link-reason" value={reason} onChange={(v) => setReason(v)} onInput={(v) => setReason(v)} />
          <Flex direction="row" gap="small">
            <Button variant="primary" disabled={busy} testId="link" onClick={submit}>
              {busy ? t.linking : t.link}
            </Button>
            <Button variant="secondary" disabled={busy} testId="link-cancel" onClick={() => setChosen(null)}>
              {t.cancel}
            </Button>
          </Flex>
          {err ? <ErrorAlert title={t.linkFailed} err={err} t={t} testId="link-error" /> : null}
        </Flex>
      ) : null}
      {!chosen ? (
        <Button variant="transparent" testId="link-close" onClick={() => setOpen(false)}>
          {t.cancel}
        </Button>
      ) : null}
    </Flex>
  );
}

// Friend is one connection's friend: who, state, conversation, answer.
export function Friend({ friend, api, t, lang, timeZone, makeKey, onSent, onChanged }) {
  const [text, setText] = useState('');
  const [sending, setSending] = useState(false);
  const [result, setResult] = useState(null);
  const [templates, setTemplates] = useState(null);
  const [templateId, setTemplateId] = useState('');
  const [preview, setPreview] = useState(null);
  const [unlinking, setUnlinking] = useState(false);
  // pending is the key of the message being sent, and what it was: a
  // retried click of the same message reuses it; anything else gets a new one.
  const pending = useRef(null);

  useEffect(() => {
    let live = true;
    api
      .templates()
      .then((b) => live && setTemplates(b.templates || []))
      .catch(() => live && setTemplates([]));
    return () => {
      live = false;
    };
  }, [api]);

  const keyFor = (what) => {
    if (!pending.current || pending.current.what !== what) {
      pending.current = { what, key: makeKey() };
    }
    return pending.current.key;
  };

  const send = async (payload, what) => {
    if (sending) {
      return;
    }
    const key = keyFor(what);
    setSending(true);
    setResult(null);
    try {
      const res = await api.reply({ ...payload, connectionId: friend.connection_id, userId: friend.user_id, key });
      pending.current = null;
      setResult(res);
      if (payload.text !== undefined) {
        setText('');
      }
      onSent();
    } catch (err) {
      // The key stays: clicking again retries this same message, which
      // linehub sends at most once.
      setResult({ error: err });
    } finally {
      setSending(false);
    }
  };

  const chooseTemplate = async (id) => {
    setTemplateId(String(id));
    setPreview(null);
    if (!id) {
      return;
    }
    try {
      setPreview(await api.preview(id));
    } catch (err) {
      setPreview({ error: err });
    }
  };

  const messages = friend.messages || [];
  return (
    <Flex direction="column" gap="small" testId={`friend-${friend.connection_id}-${friend.user_id}`}>
      <Flex direction="row" gap="small" align="center" justify="between">
        <Flex direction="row" gap="small" align="center">
          {friend.picture_url ? <Image src={friend.picture_url} alt={friend.display_name} width={48} height={48} /> : null}
          <Flex direction="column" gap="flush">
            <Text format={{ fontWeight: 'bold' }}>{friend.display_name || friend.user_id}</Text>
            <Text variant="microcopy">
              {t.connection}: {friend.connection_name}
            </Text>
          </Flex>
        </Flex>
        {unlinking ? null : (
          <Button variant="secondary" testId={`unlink-open-${friend.connection_id}`} onClick={() => setUnlinking(true)}>
            {t.unlinkOpen}
          </Button>
        )}
      </Flex>
      {unlinking ? <Unlink friend={friend} api={api} t={t} onDone={onChanged} onCancel={() => setUnlinking(false)} /> : null}
      <Flex direction="row" gap="extra-small" wrap>
        <Tag variant={friend.following ? 'success' : 'warning'} testId={`follow-${friend.connection_id}`}>
          {friend.following ? t.following : t.blocked}
        </Tag>
        <Tag variant={friend.unanswered ? 'error' : 'default'} testId={`unanswered-${friend.connection_id}`}>
          {friend.unanswered ? t.unanswered : t.answered}
        </Tag>
      </Flex>
      <Divider />
      {friend.more ? <Text variant="microcopy">{t.olderInLinehub}</Text> : null}
      {messages.length === 0 ? <Text variant="microcopy">{t.noMessages}</Text> : null}
      {messages.map((m) => (
        <Message key={m.id} m={m} t={t} lang={lang} timeZone={timeZone} />
      ))}
      <Divider />
      <TextArea
        label={t.replyLabel}
        name={`reply-${friend.connection_id}-${friend.user_id}`}
        placeholder={t.replyPlaceholder}
        value={text}
        maxLength={5000}
        rows={3}
        onChange={(v) => setText(v)}
        onInput={(v) => setText(v)}
      />
      <Flex direction="row" gap="small" align="center">
        <Button
          variant="primary"
          disabled={sending || text.trim() === ''}
          testId={`send-text-${friend.connection_id}`}
          onClick={() => send({ text }, `text:${text}`)}
        >
          {sending ? t.sending : t.send}
        </Button>
      </Flex>
      {templates && templates.length > 0 ? (
        <Select
          label={t.template}
          name={`template-${friend.connection_id}-${friend.user_id}`}
          placeholder={t.templatePlaceholder}
          value={templateId}
          options={templates.map((tp) => ({ label: tp.name, value: String(tp.id) }))}
          onChange={(v) => chooseTemplate(v)}
        />
      ) : templates ? (
        <Text variant="microcopy">{t.noTemplates}</Text>
      ) : null}
      {preview && preview.error ? <ErrorAlert title={t.preview} err={preview.error} t={t} /> : null}
      {preview && !preview.error ? (
        <Flex direction="column" gap="extra-small" testId={`template-preview-${friend.connection_id}`}>
          <Text variant="microcopy" format={{ fontWeight: 'demibold' }}>
            {t.preview}
          </Text>
          {(preview.parts || []).map((p, i) => (
            <Part key={i} part={p} t={t} />
          ))}
          {preview.missing && preview.missing.length > 0 ? (
            <Alert title={t.missing + preview.missing.join(', ')} variant="warning" />
          ) : null}
          <Button
            variant="secondary"
            disabled={sending || (preview.missing && preview.missing.length > 0)}
            testId={`send-template-${friend.connection_id}`}
            onClick={() => send({ templateId: Number(templateId) }, `template:${templateId}`)}
          >
            {sending ? t.sending : t.sendTemplate}
          </Button>
        </Flex>
      ) : null}
      <SendResult result={result} t={t} />
      {friend.chat_url ? (
        <Link href={{ url: friend.chat_url, external: true }}>{t.openInLinehub}</Link>
      ) : null}
    </Flex>
  );
}

// LineCard is the whole card. fetcher, base and makeKey are parameters so
// the tests and the preview can run it outside HubSpot.
export function LineCard({ context, fetcher = hubspot.fetch, base = LINEHUB_URL, makeKey = newKey }) {
  const lang = pickLang(context && context.user);
  const t = TEXT[lang];
  // The contact may get a new id when a link merges the friend's contact
  // into it (both old ids read as the new one); the card follows it.
  const [contactId, setContactId] = useState(() => String(context && context.crm ? context.crm.objectId : ''));
  const timeZone = context && context.portal ? context.portal.timezone : undefined;
  const api = useMemo(() => makeApi(fetcher, base, contactId), [fetcher, base, contactId]);
  const [state, setState] = useState({ loading: true });
  const [notice, setNotice] = useState(null);

  const load = useCallback(() => {
    setState((s) => ({ ...s, loading: true }));
    api
      .card()
      .then((data) => setState({ loading: false, data }))
      .catch((err) => setState({ loading: false, error: err }));
  }, [api]);

  useEffect(() => {
    load();
  }, [load]);

  // changed shows what a link or unlink did and reloads the card.
  const changed = (n, newId) => {
    setNotice(n);
    if (newId && newId !== contactId) {
      setContactId(newId);
    } else {
      load();
    }
  };

  if (state.loading && !state.data) {
    return <LoadingSpinner label={t.loading} showLabel />;
  }
  if (state.error) {
    return (
      <Flex direction="column" gap="small">
        <ErrorAlert title={t.loadFailed} err={state.error} t={t} testId="load-error" />
        <Button onClick={load} testId="retry">
          {t.retry}
        </Button>
      </Flex>
    );
  }
  const friends = (state.data && state.data.friends) || [];
  const top = notice ? (
    <Alert title={notice.title} variant={notice.variant} testId="notice">
      {notice.body || ''}
    </Alert>
  ) : null;
  const linkPanel = <LinkPanel api={api} t={t} contactId={contactId} onDone={changed} />;
  if (friends.length === 0) {
    return (
      <Flex direction="column" gap="medium">
        {top}
        <Text testId="not-friend">{t.notFriend}</Text>
        {linkPanel}
      </Flex>
    );
  }
  return (
    <Flex direction="column" gap="medium">
      {top}
      {friends.map((f, i) => (
        <React.Fragment key={`${f.connection_id}-${f.user_id}`}>
          {i > 0 ? <Divider /> : null}
          <Friend friend={f} api={api} t={t} lang={lang} timeZone={timeZone} makeKey={makeKey} onSent={load} onChanged={changed} />
        </React.Fragment>
      ))}
      <Divider />
      {linkPanel}
    </Flex>
  );
}

export { TEXT };

// Outside HubSpot's extension worker (tests, the preview) extend is a no-op.
hubspot.extend(({ context }) => <LineCard context={context} />);
