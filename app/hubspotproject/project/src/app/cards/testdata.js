// A stand-in for linehub's /hubspot/app/card endpoints, answering with the
// JSON shapes linehub's card.go and cardlink.go write (its Go tests check
// the same shapes): refusals are {"error": English text, "code": one of
// carderrors.go's codes} with linehub's status.

export function cardData() {
  return {
    contact_id: '501',
    friends: [
      {
        connection_id: 1,
        connection_name: 'Shop Shibuya',
        user_id: 'U4af4980629',
        display_name: 'Taro Yamada',
        picture_url: 'https://profile.line-scdn.net/taro',
        following: true,
        unanswered: true,
        chat_url: 'https://linehub.example.com/connections/1/chat/U4af4980629',
        more: true,
        messages: [
          { id: 11, direction: 'in', timestamp: 1764990000000, parts: [{ type: 'text', text: 'Hello, is the shop open today?' }] },
          { id: 12, direction: 'out', via: 'reply', timestamp: 1764990060000, parts: [{ type: 'text', text: 'Yes, until 20:00.' }] },
          {
            id: 13,
            direction: 'in',
            timestamp: 1764990120000,
            parts: [{ type: 'sticker', package_id: '446', sticker_id: '1988', keywords: ['happy', 'hello'] }],
          },
          { id: 14, direction: 'in', timestamp: 1764990180000, parts: [{ type: 'image' }] },
          {
            id: 15,
            direction: 'out',
            via: 'push',
            unconfirmed: true,
            timestamp: 1764990240000,
            parts: [{ type: 'image', url: 'https://cdn.example.com/menu.jpg', preview_url: 'https://cdn.example.com/menu-small.jpg' }],
          },
          { id: 16, direction: 'in', timestamp: 1764990300000, parts: [{ type: 'text', text: 'Thanks!' }] },
        ],
      },
      {
        connection_id: 2,
        connection_name: 'Shop Umeda',
        user_id: 'Ub12',
        display_name: 'Taro',
        picture_url: '',
        following: false,
        unanswered: false,
        chat_url: 'https://linehub.example.com/connections/2/chat/Ub12',
        more: false,
        messages: [],
      },
    ],
  };
}

const templates = {
  templates: [
    { id: 3, name: 'Opening hours' },
    { id: 4, name: 'Coupon' },
  ],
};

const previews = {
  3: { parts: [{ type: 'text', text: 'Hello Taro, we are open 10:00-20:00.' }], missing: [] },
  4: { parts: [{ type: 'text', text: 'Your code: ' }], missing: ['coupon_code'] },
};

// linkFriends is GET /card/link/friends: friends of every connection
// matching the search, with the contact each follows now ("" for none).
export function linkFriends() {
  return {
    friends: [
      {
        connection_id: 1,
        connection_name: 'Shop Shibuya',
        user_id: 'Uc0ffee0001',
        display_name: 'Hanako Sato',
        picture_url: 'https://profile.line-scdn.net/hanako',
        contact_id: '9001',
      },
      { connection_id: 2, connection_name: 'Shop Umeda', user_id: 'Uc0ffee0002', display_name: 'Hanako', picture_url: '', contact_id: '' },
      { connection_id: 1, connection_name: 'Shop Shibuya', user_id: 'U4af4980629', display_name: 'Taro Yamada', picture_url: '', contact_id: '501' },
    ],
  };
}

// refusal is one of linehub's refusals as the card receives it.
export function refusal(status, code, error) {
  return { status, body: { error, code } };
}

// The refusals linehub's card link routes answer (cardlink.go).
export const refusals = {
  taken: refusal(409, 'contact_taken', 'the HubSpot contact is already linked to another LINE friend of this account'),
  elsewhere: refusal(409, 'linked_elsewhere', 'this LINE account is already linked to another HubSpot contact'),
  gone: refusal(404, 'contact_gone', 'the HubSpot contact no longer exists'),
  busy: refusal(409, 'busy', 'a link of this LINE friend is still being finished'),
  notLinked: refusal(404, 'not_linked', 'this LINE friend is not linked to the contact: nothing was unlinked'),
};

function response(status, body) {
  return { ok: status >= 200 && status < 300, status, json: async () => body };
}

// fakeLinehub records every call and answers as configured (set changes
// the answers mid-test).
export function fakeLinehub(initial = {}) {
  const cfg = {
    card: cardData(),
    cardStatus: 200,
    reply: { status: 'sent', via: 'push', duplicate: false },
    replyFail: null,
    friends: linkFriends(),
    // link and unlink: an answer {status, body}, or an Error to throw as
    // hubspot.fetch does when it gets no answer.
    link: { status: 200, body: { outcome: 'linked', contact_id: '501', merged: '9001' } },
    unlink: { status: 200, body: { outcome: 'unlinked', contact_id: '' } },
    ...initial,
  };
  const answer = (a) => {
    if (a instanceof Error) {
      throw a;
    }
    return response(a.status, a.body);
  };
  const calls = [];
  const fetch = async (url, options = {}) => {
    calls.push({ url, options: JSON.parse(JSON.stringify(options)) });
    const u = new URL(url);
    if (options.method === 'POST' && u.pathname === '/hubspot/app/card/reply') {
      if (cfg.replyFail) {
        throw cfg.replyFail;
      }
      return response(200, cfg.reply);
    }
    if (options.method === 'POST' && u.pathname === '/hubspot/app/card/link') {
      return answer(cfg.link);
    }
    if (options.method === 'POST' && u.pathname === '/hubspot/app/card/unlink') {
      return answer(cfg.unlink);
    }
    if (u.pathname === '/hubspot/app/card/link/friends') {
      const q = (u.searchParams.get('q') || '').toLowerCase();
      const friends = cfg.friends.friends.filter((f) => f.display_name.toLowerCase().includes(q) || f.user_id.toLowerCase() === q);
      return response(200, { friends });
    }
    if (u.pathname === '/hubspot/app/card/templates/preview') {
      return response(200, previews[u.searchParams.get('templateId')]);
    }
    if (u.pathname === '/hubspot/app/card/templates') {
      return response(200, templates);
    }
    if (u.pathname === '/hubspot/app/card') {
      return response(cfg.cardStatus, cfg.card);
    }
    return response(404, { error: 'no such page: ' + options.method + ' ' + u.pathname, code: 'not_found' });
  };
  return { fetch, calls, set: (c) => Object.assign(cfg, c) };
}
