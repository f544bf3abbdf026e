// The "LINE" card on HubSpot contact records: for each linehub connection
// where this contact is a LINE friend, the friend, the recent conversation,
// a reply box and a template picker. It talks only to linehub, through
// hubspot.fetch: HubSpot signs each request with the app's client secret
// (X-HubSpot-Signature-v3) and appends userId, userEmail, portalId and appId
// to the URL, and linehub answers only for the portal and contact signed.
import React, { useCallback, useEffect, useRef, useState } from 'react';
import {
  Alert,
  Button,
  Divider,
  Flex,
  Image,
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
      const err = new Error(body.error || `HTTP ${res.status}`);
      err.status = res.status;
      err.code = body.code || '';
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
  };
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
    return (
      <Alert title={t.sendFailed} variant="error">
        {result.error}
      </Alert>
    );
  }
  const msg = result.duplicate ? t.sentDuplicate : result.via === 'reply' ? t.sentReply : t.sentPush;
  return <Alert title={msg} variant={result.duplicate ? 'info' : 'success'} />;
}

// Friend is one connection's friend: who, state, conversation, answer.
export function Friend({ friend, api, t, lang, timeZone, makeKey, onSent }) {
  const [text, setText] = useState('');
  const [sending, setSending] = useState(false);
  const [result, setResult] = useState(null);
  const [templates, setTemplates] = useState(null);
  const [templateId, setTemplateId] = useState('');
  const [preview, setPreview] = useState(null);
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
      setResult({ error: err.message });
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
      setPreview({ error: err.message });
    }
  };

  const messages = friend.messages || [];
  return (
    <Flex direction="column" gap="small" testId={`friend-${friend.connection_id}-${friend.user_id}`}>
      <Flex direction="row" gap="small" align="center">
        {friend.picture_url ? <Image src={friend.picture_url} alt={friend.display_name} width={48} height={48} /> : null}
        <Flex direction="column" gap="flush">
          <Text format={{ fontWeight: 'bold' }}>{friend.display_name || friend.user_id}</Text>
          <Text variant="microcopy">
            {t.connection}: {friend.connection_name}
          </Text>
        </Flex>
      </Flex>
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
      {preview && preview.error ? <Alert title={t.preview} variant="warning">{preview.error}</Alert> : null}
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
  const contactId = context && context.crm ? context.crm.objectId : '';
  const timeZone = context && context.portal ? context.portal.timezone : undefined;
  const [api] = useState(() => makeApi(fetcher, base, contactId));
  const [state, setState] = useState({ loading: true });

  const load = useCallback(() => {
    setState((s) => ({ ...s, loading: true }));
    api
      .card()
      .then((data) => setState({ loading: false, data }))
      .catch((err) => setState({ loading: false, error: err.message }));
  }, [api]);

  useEffect(() => {
    load();
  }, [load]);

  if (state.loading && !state.data) {
    return <LoadingSpinner label={t.loading} showLabel />;
  }
  if (state.error) {
    return (
      <Flex direction="column" gap="small">
        <Alert title={t.loadFailed} variant="error">
          {state.error}
        </Alert>
        <Button onClick={load} testId="retry">
          {t.retry}
        </Button>
      </Flex>
    );
  }
  const friends = (state.data && state.data.friends) || [];
  if (friends.length === 0) {
    return <Text testId="not-friend">{t.notFriend}</Text>;
  }
  return (
    <Flex direction="column" gap="medium">
      {friends.map((f, i) => (
        <React.Fragment key={`${f.connection_id}-${f.user_id}`}>
          {i > 0 ? <Divider /> : null}
          <Friend friend={f} api={api} t={t} lang={lang} timeZone={timeZone} makeKey={makeKey} onSent={load} />
        </React.Fragment>
      ))}
    </Flex>
  );
}

export { TEXT };

// Outside HubSpot's extension worker (tests, the preview) extend is a no-op.
hubspot.extend(({ context }) => <LineCard context={context} />);
