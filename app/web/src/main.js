// Wellhead investor app: markets, one asset, portfolio, trade. The page is a view over the chain
// (through the wallet's provider) and the indexer's API (same origin); the wallet signs every write.
import { parseSignature } from 'viem';
import { h, mount } from './dom.js';
import { bars, lines, spark } from './chart.js';
import { explain } from './errors.js';
import { Wallet } from './wallet.js';
import {
  BPS, LEASE_STATUSES, MAX_UINT, STATUSES, TIERS, WAD, bps, date, parseUnits, shortAddr, units, wadRatio,
} from './format.js';

const SHARE = 10n ** 18n;
const HOUR = 3600;
const state = { config: null, token: null, assets: null, portfolio: null, wallet: null, errorAbi: [] };

// ------------------------------------------------------------------------------------------------ data

async function api(path) {
  const res = await fetch(path, { headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

const abi = (name) => state.config.abis[name];
const addr = (name) => state.config.addresses[name];
const cash = (v, shown = 2) => `${units(v, state.token.decimals, shown)} ${state.token.symbol}`;
const sharesText = (v) => units(v, 18, 2);

function read(address, abiName, functionName, args = []) {
  return state.wallet.public.readContract({ address, abi: abi(abiName), functionName, args });
}

/** The portfolio in one eth_call (the lens), with lease ids from the indexer (no JSON-RPC). */
async function loadPortfolio() {
  const w = state.wallet;
  if (!w.account || !w.onRightChain) { state.portfolio = null; return null; }
  const { leaseIds } = await api(`/api/accounts/${w.account}/leases`);
  state.portfolio = await read(addr('PortfolioLens'), 'PortfolioLens', 'portfolioOf', [w.account, leaseIds.map(BigInt)]);
  return state.portfolio;
}

async function loadAssets(force = false) {
  if (!state.assets || force) state.assets = (await api('/api/assets')).assets;
  return state.assets;
}

// ------------------------------------------------------------------------------------------------ shell

const main = () => document.getElementById('main');

function renderShell() {
  const w = state.wallet;
  const route = location.hash.split('/')[1] || 'markets';
  const tab = (id, label) => h('a', { href: `#/${id}`, class: route === id ? 'tab active' : 'tab', 'data-testid': `tab-${id}` }, label);
  mount(document.getElementById('nav'), tab('markets', 'Markets'), tab('portfolio', 'Portfolio'), tab('trade', 'Trade'));
  const walletBox = document.getElementById('wallet');
  if (!w.provider && !w.providers.length && !window.ethereum) {
    mount(walletBox, h('span', { class: 'muted' }, 'No wallet detected'));
  } else if (!w.account) {
    const choices = w.providers.length > 1
      ? w.providers.map((p) => h('button', { class: 'btn', onclick: () => connect(p.info.rdns) }, `Connect ${p.info.name}`))
      : [h('button', { class: 'btn primary', 'data-testid': 'connect', onclick: () => connect() }, 'Connect wallet')];
    mount(walletBox, choices);
  } else {
    mount(walletBox,
      h('span', { class: w.onRightChain ? 'chip ok' : 'chip bad', 'data-testid': 'chain' }, w.onRightChain ? state.config.chainName : `Chain ${w.chainId}`),
      h('span', { class: 'chip mono', 'data-testid': 'account', title: w.account }, shortAddr(w.account)));
  }
  const banner = document.getElementById('banner');
  if (w.account && !w.onRightChain) {
    mount(banner, h('div', { class: 'banner warn', 'data-testid': 'wrong-chain' },
      `Your wallet is on chain ${w.chainId}; Wellhead runs on ${state.config.chainName} (chain ${state.config.chainId}). Nothing can be sent until you switch. `,
      h('button', { class: 'btn', 'data-testid': 'switch-chain', onclick: switchChain }, `Switch to ${state.config.chainName}`)));
  } else {
    mount(banner);
  }
}

async function connect(rdns) {
  try {
    await state.wallet.connect(rdns);
  } catch (err) {
    mount(document.getElementById('banner'), h('div', { class: 'banner warn' }, explain(err, errorContext())));
    return;
  }
  await route();
}

async function switchChain() {
  try {
    await state.wallet.switchChain();
  } catch (err) {
    mount(document.getElementById('banner'), h('div', { class: 'banner warn' }, explain(err, errorContext())));
    return;
  }
  await route();
}

async function route() {
  renderShell();
  const [, page, id] = location.hash.split('/');
  document.body.dataset.ready = '';
  try {
    if (page === 'asset') await renderAsset(Number(id));
    else if (page === 'portfolio') await renderPortfolio();
    else if (page === 'trade') await renderTrade(id ? Number(id) : null);
    else await renderMarkets();
  } catch (err) {
    mount(main(), h('div', { class: 'banner warn' }, `Could not load this page: ${explain(err, errorContext())}`));
  }
}

// ------------------------------------------------------------------------------------------------ markets

async function renderMarkets() {
  const assets = await loadAssets(true);
  const totalGpus = assets.reduce((a, x) => a + x.gpuCount, 0);
  const raised = assets.reduce((a, x) => a + BigInt(x.offering.sold) * BigInt(x.offering.pricePerShare) / SHARE, 0n);
  const netAll = assets.reduce((a, x) => a + x.recentEpochs.reduce((b, e) => b + BigInt(e.net), 0n), 0n);
  const rows = assets.map((a) => {
    const o = a.offering;
    const nets = a.recentEpochs.map((e) => Number(BigInt(e.net)) / 10 ** state.token.decimals);
    return h('tr', { class: 'link', 'data-testid': `asset-row-${a.assetId}`, onclick: () => { location.hash = `#/asset/${a.assetId}`; } },
      h('td', {}, h('div', { class: 'strong', 'data-testid': 'asset-name' }, a.name), h('div', { class: 'muted small' }, a.symbol)),
      h('td', {}, h('span', { class: `tier t${a.tier}` }, TIERS[a.tier] ?? '?')),
      h('td', {}, `${a.gpuCount} × ${a.gpuModel}`),
      h('td', {}, a.region),
      h('td', { class: 'num' }, o.open ? cash(BigInt(o.pricePerShare)) : h('span', { class: 'muted' }, 'closed'),
        o.open ? h('div', {}, h('progress', { max: o.cap, value: o.sold }), h('span', { class: 'small muted' }, ` ${sharesText(o.sold)} / ${sharesText(o.cap)}`)) : null),
      h('td', { class: 'num' }, bps(a.yieldBps)),
      h('td', { class: 'num' }, a.valuation ? cash(BigInt(a.valuation.price)) : '—', a.valuation?.frozen ? h('div', { class: 'small bad' }, 'frozen') : null),
      h('td', { class: 'num' }, bps(a.utilizationBps)),
      h('td', {}, spark(nets)));
  });
  mount(main(),
    h('section', { class: 'hero' },
      h('h1', {}, 'Metered GPU yield'),
      h('p', { class: 'muted' }, 'Shares of GPU clusters whose revenue is proven by the meter every epoch. Every figure below is read from settled on-chain reports.')),
    h('div', { class: 'cards' },
      card('Assets', String(assets.length)), card('GPUs', totalGpus.toLocaleString('en-US')),
      card('Raised in offerings', cash(raised, 0)), card('Paid to holders (last 12 epochs)', cash(netAll))),
    h('table', { class: 'grid', 'data-testid': 'markets-table' },
      h('thead', {}, h('tr', {}, ['Asset', 'Tier', 'GPUs', 'Region', 'Offering price', 'Realised yield', 'Valuation', 'Utilisation', 'Net per epoch'].map((t) => h('th', {}, t)))),
      h('tbody', {}, rows)));
  ready('markets');
}

/** The page's data is rendered: tests wait on `<body data-ready>`, `make bench` reads the performance mark. */
function ready(page) {
  document.body.dataset.ready = page;
  performance.mark(`wellhead-ready-${page}`);
}

function card(label, value, testid, extra) {
  return h('div', { class: 'card', 'data-testid': testid }, h('div', { class: 'muted small' }, label), h('div', { class: 'big' }, value), extra || null);
}

// ------------------------------------------------------------------------------------------------ asset

async function renderAsset(assetId) {
  const a = await api(`/api/assets/${assetId}`);
  if (state.wallet.account && state.wallet.onRightChain) await loadPortfolio();
  const e = a.epochs;
  const labels = e.map((x) => x.epoch);
  const dec = 10 ** state.token.decimals;
  const last = e[e.length - 1];
  const lastGpuH = last ? last.gpuSeconds / HOUR : 0;
  const kpis = last ? [
    card('Healthy GPU-hours (last epoch)', lastGpuH.toFixed(1)),
    card('Utilisation (last epoch)', last.gpuSeconds ? `${(100 * last.busyGpuSeconds / last.gpuSeconds).toFixed(1)}%` : '—'),
    card('Energy (last epoch)', `${(last.energyWh / 1000).toFixed(2)} kWh`),
    card('GPU-hours per MWh', last.energyWh ? (lastGpuH * 1e6 / last.energyWh).toFixed(0) : '—'),
    card('Curtailed GPU-hours (last epoch)', curtailedGpuH(last), 'kpi-curtailed', h('div', { class: 'small muted', title: 'GPU time idled on purpose for a grid demand-response request (not a fault)' }, 'grid demand response')),
  ] : [card('Meter', 'no settled epoch yet')];
  const v = a.valuation || { price: '0', target: '0', windowNet: '0', windowEpochs: 0, annualNetPerShare: '0',
    capitalised: '0', decayFactorBps: 0, silentEpochs: 0, suspended: false, retired: false, frozen: false, unvalued: true };
  mount(main(),
    h('a', { href: '#/markets', class: 'back' }, '← Markets'),
    h('section', { class: 'asset-head' },
      h('h1', { 'data-testid': 'asset-title' }, a.name),
      h('div', { class: 'muted' }, h('span', { class: `tier t${a.tier}` }, TIERS[a.tier]), ` ${a.gpuCount} × ${a.gpuModel} · ${a.region} · operator `, h('span', { class: 'mono' }, shortAddr(a.operator)), ` · ${STATUSES[a.status]}`),
      h('div', { class: 'muted small' }, 'Datasheet: ', a.metadataURI)),
    h('div', { class: 'cards' }, kpis,
      card('Realised yield (annualised)', bps(a.yieldBps)),
      card('Valuation per share', v.unvalued ? 'not valued' : cash(BigInt(v.price)), 'valuation', h('div', { class: 'small muted' }, v.unvalued ? 'no valuation configured' : v.frozen ? 'frozen: the meter is silent' : `target ${cash(BigInt(v.target))}`))),
    h('div', { class: 'charts' },
      bars({ title: 'Where each epoch\'s revenue went', unit: state.token.symbol, labels, series: [
        { name: 'to holders', values: e.map((x) => Number(BigInt(x.net)) / dec) },
        { name: 'operator fee', values: e.map((x) => Number(BigInt(x.fee)) / dec) },
        { name: 'energy', values: e.map((x) => Number(BigInt(x.energyCost)) / dec) },
        { name: 'SLA credits to lessees', values: e.map((x) => Number(BigInt(x.credits)) / dec) },
      ] }),
      lines({ title: 'Metered delivery', unit: '%', max: 100, labels, series: [
        { name: 'uptime (healthy GPU-s / capacity)', values: e.map((x) => 100 * x.gpuSeconds / (a.gpuCount * HOUR)) },
        { name: 'utilisation', values: e.map((x) => (x.gpuSeconds ? 100 * x.busyGpuSeconds / x.gpuSeconds : 0)) },
        { name: 'curtailed for the grid (GPU-s / capacity)', values: e.map((x) => 100 * (x.curtailedGpuSeconds ?? 0) / (a.gpuCount * HOUR)) },
      ] })),
    h('details', { class: 'panel', open: true }, h('summary', {}, 'Valuation breakdown'),
      h('table', { class: 'kv' }, h('tbody', {},
        kv('Price now', cash(BigInt(v.price))), kv('Target', cash(BigInt(v.target))),
        kv('Net to holders in window', `${cash(BigInt(v.windowNet))} over ${v.windowEpochs} epochs`),
        kv('Annual net per share', cash(BigInt(v.annualNetPerShare))), kv('Capitalised value', cash(BigInt(v.capitalised))),
        kv('GPU-age decay factor', bps(v.decayFactorBps)), kv('Silent epochs', String(v.silentEpochs)),
        kv('Suspended / retired', `${v.suspended} / ${v.retired}`)))),
    h('div', { class: 'panels' },
      subscribePanel(a), ...a.lendingMarkets.map((m) => lendingPanel(a, m)), leasePanel(a)),
    h('details', { class: 'panel' }, h('summary', {}, 'Settled epochs (audit trail)'),
      h('table', { class: 'grid small' }, h('thead', {}, h('tr', {}, ['Epoch', 'Gross', 'Credits', 'Energy', 'Fee', 'Net', 'GPU-h', 'Curtailed GPU-h', 'Energy kWh', 'Report'].map((t) => h('th', {}, t)))),
        h('tbody', {}, e.slice().reverse().map((x) => h('tr', {},
          h('td', {}, String(x.epoch)), ...[x.gross, x.credits, x.energyCost, x.fee, x.net].map((n) => h('td', { class: 'num' }, units(n, state.token.decimals))),
          h('td', { class: 'num' }, (x.gpuSeconds / HOUR).toFixed(1)),
          h('td', { class: 'num', 'data-testid': `epoch-curtailed-${x.epoch}` }, curtailedGpuH(x)),
          h('td', { class: 'num' }, (x.energyWh / 1000).toFixed(2)),
          h('td', { class: 'mono small', title: x.reportHash }, x.voided ? 'void' : x.reportHash.slice(0, 10) + '…')))))));
  ready('asset');
}

/** An epoch's curtailed GPU-hours as shown (one decimal); '—' when the index could not read the report. */
function curtailedGpuH(x) {
  return x.curtailedGpuSeconds == null ? '—' : (x.curtailedGpuSeconds / HOUR).toFixed(1);
}

function kv(k, v) { return h('tr', {}, h('th', {}, k), h('td', {}, v)); }

function field(label, attrs) {
  const input = h('input', { type: 'text', inputmode: 'decimal', autocomplete: 'off', ...attrs });
  return [h('label', {}, label, input), input];
}

function actionBox(testid) {
  return h('div', { class: 'status', 'data-testid': `${testid}-status`, role: 'status' });
}

/** Reasons this wallet cannot act now, in words; null when it can. */
function refusal({ needsKyc = false } = {}) {
  const w = state.wallet;
  if (!w.account) return 'Connect a wallet first.';
  if (!w.onRightChain) return `Switch your wallet to ${state.config.chainName} first.`;
  const p = state.portfolio;
  if (needsKyc && p && !p.canHold) {
    const inv = p.investor;
    if (inv.status === 0) return 'Your address is not verified (KYC): only verified investors may hold shares. Ask the compliance desk to verify it; nothing was sent.';
    if (inv.status === 2) return 'Your verification was revoked by compliance: you cannot buy or receive shares. Nothing was sent.';
    if (BigInt(inv.kycExpiry) <= p.timestamp) return `Your KYC expired on ${date(inv.kycExpiry)}: renew it with the compliance desk. Nothing was sent.`;
    return 'Your address may not hold shares now. Nothing was sent.';
  }
  return null;
}

function subscribePanel(a) {
  const o = a.offering;
  const price = BigInt(o.pricePerShare);
  const remaining = BigInt(o.cap) - BigInt(o.sold);
  const [label, input] = field('Shares', { 'data-testid': 'subscribe-shares', placeholder: '10' });
  const preview = h('div', { class: 'preview', 'data-testid': 'subscribe-preview' });
  const status = actionBox('subscribe');
  const refused = refusal({ needsKyc: true });
  const update = () => {
    try {
      const n = parseUnits(input.value || '0', 18, 'shares');
      const cost = (n * price + SHARE - 1n) / SHARE;
      mount(preview, `You pay ${cash(cost)} for ${sharesText(n)} shares (${bps(a.yieldBps)} realised yield at the offering price).`);
    } catch (err) { mount(preview, err.message); }
  };
  input.addEventListener('input', update);
  const button = h('button', { class: 'btn primary', 'data-testid': 'subscribe-button', disabled: !o.open || undefined, onclick: () => act(status, async () => {
    const shares = parseUnits(input.value, 18, 'shares');
    if (shares === 0n) throw new Error('Enter how many shares to buy.');
    const cost = (shares * price + SHARE - 1n) / SHARE;
    const p = state.portfolio;
    if (shares > remaining) throw new Error(`Only ${sharesText(remaining)} shares are left in this offering.`);
    if (cost > p.cash) throw new Error(`Insufficient balance: you have ${cash(p.cash)}, this costs ${cash(cost)}. Nothing was sent.`);
    const permit = await signPermit(addr('SettlementToken'), 'SettlementToken', a.shares, cost);
    await send(a.shares, 'AssetShares', 'subscribeWithPermit', [shares, cost, permit.deadline, permit.v, permit.r, permit.s]);
  }, { needsKyc: true }) }, 'Subscribe with permit');
  return h('section', { class: 'panel', 'data-testid': 'subscribe-panel' },
    h('h2', {}, 'Offering'),
    o.open
      ? h('p', {}, `Round ${a.round}: ${cash(price)} per share, ${sharesText(remaining)} of ${sharesText(o.cap)} left, closes ${date(o.closesAt)}.`)
      : h('p', { class: 'muted' }, 'No offering is open.'),
    refused ? h('p', { class: 'refusal', 'data-testid': 'subscribe-refusal' }, refused) : null,
    label, preview, button, status);
}

function leasePanel(a) {
  const rows = a.offers.filter((o) => o.active && !o.retired).map((o) => {
    const [gl, gpus] = field('GPUs', { 'data-testid': `lease-gpus-${o.offerId}`, placeholder: '1', size: 4 });
    const [tl, term] = field('Epochs', { 'data-testid': `lease-epochs-${o.offerId}`, placeholder: String(o.minTermEpochs), size: 5 });
    const status = actionBox(`lease-${o.offerId}`);
    const preview = h('div', { class: 'preview', 'data-testid': `lease-preview-${o.offerId}` });
    const update = () => {
      const g = BigInt(gpus.value || 0); const t = BigInt(term.value || 0);
      // The market quotes the exact escrow (rounded up) before anything is signed.
      const escrow = g * BigInt(o.pricePerGpuHour) * t * BigInt(state.epochLength) / BigInt(HOUR);
      mount(preview, g && t ? `Escrow about ${cash(escrow)} for ${g} GPUs × ${t} epochs of ${state.epochLength / 60} min, billed for metered delivery only; the undelivered part comes back.` : '');
    };
    gpus.addEventListener('input', update); term.addEventListener('input', update);
    const button = h('button', { class: 'btn', 'data-testid': `lease-button-${o.offerId}`, onclick: () => act(status, async () => {
      const g = Number(gpus.value); const t = Number(term.value);
      if (!Number.isInteger(g) || g <= 0 || !Number.isInteger(t) || t <= 0) throw new Error('Enter whole numbers of GPUs and epochs.');
      const price = BigInt(o.pricePerGpuHour);
      const escrow = await read(addr('LeaseMarket'), 'LeaseMarket', 'quoteEscrow', [g, price, t]);
      if (escrow > state.portfolio.cash) throw new Error(`Insufficient balance: you have ${cash(state.portfolio.cash)}, the escrow is ${cash(escrow)}. Nothing was sent.`);
      const permit = await signPermit(addr('SettlementToken'), 'SettlementToken', addr('LeaseMarket'), escrow);
      await send(addr('LeaseMarket'), 'LeaseMarket', 'openLeaseWithPermit', [BigInt(o.offerId), g, t, price, escrow, permit.deadline, permit.v, permit.r, permit.s]);
    }) }, 'Lease with permit');
    return h('tr', {},
      h('td', {}, `#${o.offerId}`), h('td', {}, `${o.gpus - o.activeGpus} / ${o.gpus}`),
      h('td', { class: 'num' }, cash(BigInt(o.pricePerGpuHour))), h('td', {}, `${o.minTermEpochs}–${o.maxTermEpochs}`),
      h('td', {}, `${bps(o.slaUptimeBps)} (credit ${bps(o.slaCreditBps)})`), h('td', {}, o.leaseClass ? 'Interruptible' : 'Firm'),
      h('td', { class: 'form-row' }, gl, tl, button, preview, status));
  });
  return h('section', { class: 'panel wide', 'data-testid': 'lease-panel' }, h('h2', {}, 'Lease capacity'),
    rows.length ? h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, ['Offer', 'GPUs free (last epoch)', 'Per GPU-hour', 'Term', 'SLA', 'Class', ''].map((t) => h('th', {}, t)))), h('tbody', {}, rows))
      : h('p', { class: 'muted' }, 'No capacity offered.'));
}

function lendingPanel(a, m) {
  const p = state.portfolio;
  const loan = p?.loans.find((l) => l.market.toLowerCase() === m.market.toLowerCase());
  const held = p?.assets.find((x) => Number(x.assetId) === a.assetId)?.balance ?? 0n;
  const price = BigInt(a.valuation?.price ?? 0);
  const lltv = BigInt(m.lltv);
  const borrowLtv = BigInt(m.borrowLtv);
  const [cl, coll] = field('Add collateral (shares)', { 'data-testid': 'borrow-collateral', placeholder: '0' });
  const [bl, amount] = field(`Borrow (${state.token.symbol})`, { 'data-testid': 'borrow-amount', placeholder: '0' });
  const preview = h('div', { class: 'preview', 'data-testid': 'borrow-preview' });
  const status = actionBox('borrow');
  const compute = () => {
    const add = parseUnits(coll.value || '0', 18, 'collateral');
    const borrow = parseUnits(amount.value || '0', state.token.decimals, 'amount');
    const collateral = (loan?.collateral ?? 0n) + add;
    const debt = (loan?.debt ?? 0n) + borrow;
    const value = collateral * price / SHARE;
    const hf = debt === 0n ? MAX_UINT : value * lltv / debt;
    const maxDebt = value * borrowLtv / WAD;
    return { add, borrow, collateral, debt, hf, maxDebt };
  };
  const update = () => {
    try {
      const c = compute();
      mount(preview, `Health factor after: ${wadRatio(c.hf)} · debt ${cash(c.debt)} · you may owe at most ${cash(c.maxDebt)}`);
    } catch (err) { mount(preview, err.message); }
  };
  coll.addEventListener('input', update); amount.addEventListener('input', update);
  const borrowButton = h('button', { class: 'btn primary', 'data-testid': 'borrow-button', onclick: () => act(status, async () => {
    const c = compute();
    if (c.add > held) throw new Error(`You hold ${sharesText(held)} shares, not ${sharesText(c.add)}. Nothing was sent.`);
    if (c.borrow > 0n && c.debt > c.maxDebt) {
      const minHf = wadRatio(lltv * WAD / borrowLtv);
      throw new Error(c.hf < WAD
        ? `This loan would bring your health factor to ${wadRatio(c.hf)}, below 1: the position could be liquidated at once. Borrow at most ${cash(c.maxDebt > (loan?.debt ?? 0n) ? c.maxDebt - (loan?.debt ?? 0n) : 0n)}. Nothing was sent.`
        : `This loan would bring your health factor to ${wadRatio(c.hf)}, below the ${minHf} this market requires for new loans. Nothing was sent.`);
    }
    if (c.add > 0n) {
      await ensureAllowance(a.shares, 'AssetShares', m.market, c.add);
      await send(m.market, 'LendingMarket', 'supplyCollateral', [c.add, state.wallet.account]);
    }
    if (c.borrow > 0n) await send(m.market, 'LendingMarket', 'borrow', [c.borrow, state.wallet.account]);
  }) }, 'Supply and borrow');
  const [ll, lend] = field(`Lend (${state.token.symbol})`, { 'data-testid': 'lend-amount', placeholder: '0' });
  const lendStatus = actionBox('lend');
  const lendButton = h('button', { class: 'btn', 'data-testid': 'lend-button', onclick: () => act(lendStatus, async () => {
    const assets = parseUnits(lend.value, state.token.decimals, 'amount');
    if (assets > state.portfolio.cash) throw new Error(`Insufficient balance: you have ${cash(state.portfolio.cash)}. Nothing was sent.`);
    await ensureAllowance(addr('SettlementToken'), 'SettlementToken', m.market, assets);
    await send(m.market, 'LendingMarket', 'deposit', [assets, state.wallet.account]);
  }) }, 'Lend');
  const util = BigInt(m.utilization);
  return h('section', { class: 'panel', 'data-testid': 'lending-panel' },
    h('h2', {}, 'Borrow against shares · lend'),
    h('p', { class: 'small muted' }, `Market ${shortAddr(m.market)} · LLTV ${units(lltv, 16, 1)}% · max LTV for new loans ${units(borrowLtv, 16, 1)}% · liquidity ${cash(BigInt(m.liquidity))} · utilisation ${units(util, 16, 1)}%`),
    loan ? h('p', {}, `Your loan: ${sharesText(loan.collateral)} shares posted, ${cash(loan.debt)} owed, health factor ${wadRatio(loan.healthFactorWad)}.`) : null,
    cl, bl, preview, borrowButton, status, h('hr'), ll, lendButton, lendStatus);
}

// ------------------------------------------------------------------------------------------------ portfolio

async function renderPortfolio() {
  const w = state.wallet;
  if (!w.account) {
    mount(main(), h('section', { class: 'empty' }, h('h1', {}, 'Your portfolio'), h('p', {}, 'Connect a wallet to see your shares, yield, leases and loans.'),
      h('button', { class: 'btn primary', onclick: () => connect() }, 'Connect wallet')));
    return;
  }
  if (!w.onRightChain) {
    mount(main(), h('section', { class: 'empty' }, h('p', {}, 'Switch to the deployment\'s chain to see your portfolio.')));
    return;
  }
  const [p, assets, history] = await Promise.all([loadPortfolio(), loadAssets(), api(`/api/accounts/${w.account}/history`)]);
  const byId = new Map(assets.map((a) => [a.assetId, a]));
  const claimable = p.assets.reduce((acc, x) => acc + x.claimable, 0n);
  const claimed = p.assets.reduce((acc, x) => acc + x.claimed, 0n);
  const value = p.assets.reduce((acc, x) => acc + x.balance * BigInt(byId.get(Number(x.assetId))?.valuation?.price ?? 0) / SHARE, 0n);
  const invested = history.events.filter((e) => e.name === 'Subscribed').reduce((acc, e) => acc + BigInt(e.args.cost), 0n);
  const debt = p.loans.reduce((acc, l) => acc + l.debt, 0n);
  const inv = p.investor;
  const kyc = p.canHold ? `Verified until ${date(inv.kycExpiry)}` : (refusal({ needsKyc: true }) || 'Not verified');
  const claimAllStatus = actionBox('claim-all');
  mount(main(),
    h('h1', {}, 'Your portfolio'),
    h('p', { class: p.canHold ? 'muted' : 'refusal', 'data-testid': 'kyc' }, kyc),
    h('div', { class: 'cards' },
      card('Cash', cash(p.cash), 'cash'), card('Shares at valuation', cash(value), 'shares-value'),
      card('Claimable now', cash(claimable), 'claimable'), card('Claimed to date', cash(claimed), 'claimed'),
      card('Realised yield on cost', invested ? `${units((claimed + claimable) * 100000n / invested, 3, 3)}%` : '—', 'realised'),
      card('Debt', cash(debt), 'debt')),
    h('section', { class: 'panel wide' }, h('h2', {}, 'Shares'),
      p.assets.length ? h('table', { class: 'grid', 'data-testid': 'holdings' },
        h('thead', {}, h('tr', {}, ['Asset', 'Shares', 'Of supply', 'Claimable', 'Claimed', ''].map((t) => h('th', {}, t)))),
        h('tbody', {}, p.assets.map((x) => {
          const a = byId.get(Number(x.assetId));
          const status = actionBox(`claim-${x.assetId}`);
          return h('tr', { 'data-testid': `holding-${x.assetId}` },
            h('td', {}, h('a', { href: `#/asset/${x.assetId}` }, a?.name ?? `Asset ${x.assetId}`)),
            h('td', { class: 'num' }, sharesText(x.balance)),
            h('td', { class: 'num' }, x.totalSupply ? `${units(x.balance * 10000n / x.totalSupply, 2, 2)}%` : '—'),
            h('td', { class: 'num', 'data-testid': `claimable-${x.assetId}` }, cash(x.claimable)),
            h('td', { class: 'num' }, cash(x.claimed)),
            h('td', {}, h('button', { class: 'btn', 'data-testid': `claim-${x.assetId}`, disabled: x.claimable === 0n || undefined,
              onclick: () => act(status, () => send(x.shares, 'AssetShares', 'claim', [])) }, 'Claim'), status));
        }))) : h('p', { class: 'muted' }, 'No shares yet: pick an offering on the Markets tab.'),
      claimable > 0n ? h('div', {}, h('button', { class: 'btn primary', 'data-testid': 'claim-all', onclick: () => act(claimAllStatus, async () => {
        for (const x of p.assets.filter((y) => y.claimable > 0n)) await send(x.shares, 'AssetShares', 'claim', []);
      }) }, `Claim everything (${cash(claimable)})`), claimAllStatus) : null),
    leasesSection(p, byId), loansSection(p, byId), historySection(history, byId));
  ready('portfolio');
}

function leasesSection(p, byId) {
  if (!p.leases.length) return h('section', { class: 'panel wide' }, h('h2', {}, 'Leases'), h('p', { class: 'muted' }, 'No lease positions.'));
  return h('section', { class: 'panel wide' }, h('h2', {}, 'Leases'),
    h('table', { class: 'grid', 'data-testid': 'leases' },
      h('thead', {}, h('tr', {}, ['Lease', 'Asset', 'GPUs', 'Epochs', 'Status', 'Escrow', 'Billed', 'SLA credits', 'Refundable', 'Refunded', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, p.leases.map((l) => {
        const status = actionBox(`lease-action-${l.leaseId}`);
        const [el, extra] = field('+ epochs', { size: 4, 'data-testid': `extend-${l.leaseId}` });
        const market = addr('LeaseMarket');
        return h('tr', { 'data-testid': `lease-${l.leaseId}` },
          h('td', {}, `#${l.leaseId}`), h('td', {}, byId.get(Number(l.assetId))?.name ?? String(l.assetId)),
          h('td', {}, String(l.lease.gpus)), h('td', {}, `${l.lease.startEpoch}–${l.lease.endEpoch}`),
          h('td', {}, LEASE_STATUSES[l.lease.status]), h('td', { class: 'num' }, cash(l.lease.escrow)),
          h('td', { class: 'num' }, cash(l.account.billed)), h('td', { class: 'num' }, cash(l.account.credited)),
          h('td', { class: 'num' }, cash(l.account.refundable)), h('td', { class: 'num' }, cash(l.account.refunded)),
          h('td', { class: 'form-row' },
            h('button', { class: 'btn', disabled: l.account.refundable === 0n || undefined, onclick: () => act(status, () => send(market, 'LeaseMarket', 'claimRefund', [l.leaseId])) }, 'Collect refund'),
            el, h('button', { class: 'btn', onclick: () => act(status, async () => {
              const n = Number(extra.value);
              if (!Number.isInteger(n) || n <= 0) throw new Error('Enter a whole number of epochs.');
              const added = await read(market, 'LeaseMarket', 'quoteEscrow', [l.lease.gpus, l.lease.pricePerGpuHour, n]);
              await ensureAllowance(addr('SettlementToken'), 'SettlementToken', market, added);
              await send(market, 'LeaseMarket', 'extendLease', [l.leaseId, n]);
            }) }, 'Extend'),
            h('button', { class: 'btn', onclick: () => act(status, () => send(market, 'LeaseMarket', 'terminateLease', [l.leaseId])) }, 'End early'),
            status));
      }))));
}

function loansSection(p, byId) {
  if (!p.loans.length) return h('section', { class: 'panel wide' }, h('h2', {}, 'Loans and lending'), h('p', { class: 'muted' }, 'No loans and no lending positions.'));
  return h('section', { class: 'panel wide' }, h('h2', {}, 'Loans and lending'),
    h('table', { class: 'grid', 'data-testid': 'loans' },
      h('thead', {}, h('tr', {}, ['Collateral', 'Posted', 'Debt', 'Health factor', 'Liquidation price', 'Price now', 'Lent', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, p.loans.map((l) => {
        const status = actionBox(`loan-${l.market}`);
        const [rl, repay] = field(`Repay (${state.token.symbol})`, { size: 8, 'data-testid': 'repay-amount' });
        const [wl, withdraw] = field('Withdraw lent', { size: 8, 'data-testid': 'withdraw-lent' });
        const hfLow = l.debt > 0n && l.healthFactorWad < 12n * WAD / 10n;
        return h('tr', { 'data-testid': `loan-${Number(l.assetId)}` },
          h('td', {}, byId.get(Number(l.assetId))?.name ?? String(l.assetId)),
          h('td', { class: 'num' }, sharesText(l.collateral)), h('td', { class: 'num', 'data-testid': 'loan-debt' }, cash(l.debt)),
          h('td', { class: hfLow ? 'num bad' : 'num', 'data-testid': 'loan-hf' }, wadRatio(l.healthFactorWad)),
          h('td', { class: 'num' }, l.debt ? cash(l.liquidationPricePerShare) : '—'),
          h('td', { class: 'num' }, cash(l.pricePerShare), l.priceFrozen ? h('div', { class: 'small bad' }, 'frozen: borrowing paused') : null),
          h('td', { class: 'num', 'data-testid': 'loan-lent' }, cash(l.lenderAssets)),
          h('td', { class: 'form-row' },
            rl, h('button', { class: 'btn', 'data-testid': 'repay-button', onclick: () => act(status, async () => {
              const all = repay.value.trim().toLowerCase() === 'all';
              const assets = all ? 0n : parseUnits(repay.value, state.token.decimals, 'amount');
              const need = all ? l.debt + l.debt / 1000n + 1n : assets;
              if (need > state.portfolio.cash) throw new Error(`Insufficient balance: you have ${cash(state.portfolio.cash)}. Nothing was sent.`);
              await ensureAllowance(addr('SettlementToken'), 'SettlementToken', l.market, need);
              const position = all ? await read(l.market, 'LendingMarket', 'positionOf', [state.wallet.account]) : null;
              await send(l.market, 'LendingMarket', 'repay', all ? [0n, position.borrowShares, state.wallet.account] : [assets, 0n, state.wallet.account]);
            }) }, 'Repay'),
            h('button', { class: 'btn', disabled: l.collateral === 0n || l.debt > 0n || undefined, onclick: () => act(status, () => send(l.market, 'LendingMarket', 'withdrawCollateral', [l.collateral, state.wallet.account])) }, 'Withdraw collateral'),
            wl, h('button', { class: 'btn', disabled: l.lenderShares === 0n || undefined, onclick: () => act(status, async () => {
              const assets = parseUnits(withdraw.value, state.token.decimals, 'amount');
              await send(l.market, 'LendingMarket', 'withdraw', [assets, state.wallet.account, state.wallet.account]);
            }) }, 'Withdraw'),
            status));
      }))));
}

const HISTORY_WORDS = {
  Subscribed: (e) => `Bought ${sharesText(e.args.shares)} shares for ${cash(BigInt(e.args.cost))}`,
  RevenueClaimed: (e) => `Claimed ${cash(BigInt(e.args.amount))}`,
  LeaseOpened: (e) => `Leased ${e.args.gpus} GPUs (lease #${e.args.leaseId}), escrow ${cash(BigInt(e.args.escrow))}`,
  LeaseExtended: (e) => `Extended lease #${e.args.leaseId} to epoch ${e.args.endEpoch}`,
  LeaseClosed: (e) => `Lease #${e.args.leaseId} closed: billed ${cash(BigInt(e.args.billed))}, credited ${cash(BigInt(e.args.credited))}`,
  RefundClaimed: (e) => `Refund of ${cash(BigInt(e.args.amount))} from lease #${e.args.leaseId}`,
  CollateralSupplied: (e) => `Posted ${sharesText(e.args.amount)} shares as collateral`,
  CollateralWithdrawn: (e) => `Withdrew ${sharesText(e.args.amount)} shares of collateral`,
  Borrowed: (e) => `Borrowed ${cash(BigInt(e.args.assets))}`,
  Repaid: (e) => `Repaid ${cash(BigInt(e.args.assets))}`,
  Deposit: (e) => `Lent ${cash(BigInt(e.args.assets))}`,
  Withdraw: (e) => `Withdrew ${cash(BigInt(e.args.assets))} of lending`,
  YieldApplied: (e) => `Collateral yield ${cash(BigInt(e.args.yield))} repaid ${cash(BigInt(e.args.repaidAssets))} of debt`,
  Liquidated: (e) => `Liquidated: ${sharesText(e.args.seizedCollateral)} shares seized`,
  InvestorVerified: (e) => `Verified (KYC) until ${date(e.args.kycExpiry)}`,
  OrderPlaced: (e) => `${e.args.side === '1' ? 'Offered' : 'Bid for'} ${sharesText(e.args.amount)} shares at ${cash(BigInt(e.args.pricePerShare))}`,
  OrderFilled: (e) => `Traded ${sharesText(e.args.amount)} shares at ${cash(BigInt(e.args.pricePerShare))}`,
  OrderCancelled: (e) => `Cancelled order #${e.args.orderId}`,
  PositionSold: (e) => `Lease #${e.args.leaseId} sold for ${cash(BigInt(e.args.price))}`,
  Transfer: (e) => `Transfer${e.contract === 'LeasePositions' ? ` of lease #${e.args.tokenId}` : ` of ${sharesText(e.args.value)} shares`}`,
};

function historySection(history, byId) {
  const rows = history.events.filter((e) => HISTORY_WORDS[e.name]);
  return h('section', { class: 'panel wide' }, h('h2', {}, 'History'),
    rows.length ? h('table', { class: 'grid small', 'data-testid': 'history' },
      h('thead', {}, h('tr', {}, ['When', 'What', 'Asset', 'Block', 'Transaction'].map((t) => h('th', {}, t)))),
      h('tbody', {}, rows.map((e) => h('tr', { 'data-event': e.name },
        h('td', {}, date(e.timestamp)), h('td', {}, HISTORY_WORDS[e.name](e)),
        h('td', {}, e.assetId != null ? (byId.get(e.assetId)?.name ?? String(e.assetId)) : ''),
        h('td', { class: 'num' }, String(e.block)), h('td', { class: 'mono', title: e.tx }, e.tx.slice(0, 12) + '…')))))
      : h('p', { class: 'muted' }, 'Nothing yet.'));
}

// ------------------------------------------------------------------------------------------------ trade

const BUY = 0;
const SELL = 1;
const DAY = 86400n;

/** Value of `n` share units of an order with `r` remaining at `p`, exactly as the venue computes it. */
const valueUp = (amount, price) => (amount * price + SHARE - 1n) / SHARE;
const orderValue = (remaining, n, price) => valueUp(remaining, price) - valueUp(remaining - n, price);

/** Resting orders not expired at the chain's clock, best first: asks cheapest, bids dearest, then oldest. */
function sideOf(orders, side, now) {
  return orders
    .filter((o) => o.side === side && BigInt(o.expiresAt) > now)
    .map((o) => ({ ...o, price: BigInt(o.pricePerShare), left: BigInt(o.remaining) }))
    .sort((x, y) => (x.price === y.price ? x.orderId - y.orderId : (side === SELL) === (x.price < y.price) ? -1 : 1));
}

/** Price levels for the depth table. */
function levels(orders) {
  const byPrice = new Map();
  for (const o of orders) {
    const level = byPrice.get(o.price) || { price: o.price, shares: 0n, orders: 0 };
    level.shares += o.left; level.orders += 1;
    byPrice.set(o.price, level);
  }
  return [...byPrice.values()];
}

async function renderTrade(assetId) {
  const assets = await loadAssets();
  if (!assets.length) { mount(main(), h('p', { class: 'muted' }, 'No asset is registered yet.')); return; }
  const a = assets.find((x) => x.assetId === assetId) || assets[0];
  const w = state.wallet;
  const connected = w.account && w.onRightChain;
  const [book, { listings }, block] = await Promise.all([
    api(`/api/assets/${a.assetId}/book`), api('/api/listings'),
    connected ? w.public.getBlock() : Promise.resolve({ timestamp: BigInt(Math.floor(Date.now() / 1000)) }),
  ]);
  if (connected) await loadPortfolio();
  const now = block.timestamp;
  const asks = sideOf(book.orders, SELL, now);
  const bids = sideOf(book.orders, BUY, now);
  const venue = addr('ShareVenue');
  const depthRow = (side) => (l) => h('tr', { class: side === SELL ? 'ask' : 'bid' },
    h('td', { class: 'num' }, cash(l.price)), h('td', { class: 'num' }, sharesText(l.shares)), h('td', { class: 'num' }, String(l.orders)));
  const depth = (title, side, list, testid) => h('div', {},
    h('h3', {}, title),
    list.length ? h('table', { class: 'grid small', 'data-testid': testid },
      h('thead', {}, h('tr', {}, ['Price per share', 'Shares', 'Orders'].map((t) => h('th', {}, t)))),
      h('tbody', {}, levels(list).map(depthRow(side))))
      : h('p', { class: 'muted', 'data-testid': testid }, 'None.'));

  const trades = book.trades;
  const chron = [...trades].reverse();
  const chart = chron.length > 1
    ? lines({ title: `Fill price (${state.token.symbol} per share)`, labels: chron.map((t) => date(t.timestamp)),
      series: [{ name: 'price', values: chron.map((t) => Number(BigInt(t.pricePerShare)) / 10 ** state.token.decimals) }] })
    : h('p', { class: 'muted' }, 'The chart appears after two fills.');

  const mine = connected ? book.orders.filter((o) => o.maker.toLowerCase() === w.account.toLowerCase()) : [];
  mount(main(),
    h('section', { class: 'asset-head' },
      h('h1', { 'data-testid': 'trade-title' }, `Trade ${a.name}`),
      h('div', { class: 'muted' }, 'Other assets: ', ...assets.filter((x) => x !== a).map((x) => h('a', { href: `#/trade/${x.assetId}`, class: 'tab' }, x.symbol))),
      h('p', { class: 'muted small' }, 'Orders between verified investors, escrowed by the venue; shares and stablecoin move in one transaction. ',
        'The last price and its time-weighted average are information, not a collateral value.')),
    h('div', { class: 'panels' },
      h('section', { class: 'panel', 'data-testid': 'trade-book' }, h('h2', {}, 'Order book'),
        depth('Asks (selling)', SELL, asks, 'book-asks'), depth('Bids (buying)', BUY, bids, 'book-bids')),
      h('section', { class: 'panel', 'data-testid': 'trade-chart' }, h('h2', {}, 'Price'), chart),
      takePanel(a, asks, bids),
      placePanel(a),
      h('section', { class: 'panel', 'data-testid': 'my-orders' }, h('h2', {}, 'Your orders'),
        mine.length ? h('table', { class: 'grid small' },
          h('thead', {}, h('tr', {}, ['Side', 'Price', 'Shares left', 'Expires', ''].map((t) => h('th', {}, t)))),
          h('tbody', {}, mine.map((o) => {
            const status = actionBox(`cancel-${o.orderId}`);
            return h('tr', {}, h('td', {}, o.side === SELL ? 'Sell' : 'Buy'), h('td', { class: 'num' }, cash(BigInt(o.pricePerShare))),
              h('td', { class: 'num' }, sharesText(BigInt(o.remaining))), h('td', {}, date(o.expiresAt)),
              h('td', {}, h('button', { class: 'btn', 'data-testid': `cancel-${o.orderId}`, onclick: () => act(status, async () => {
                await send(venue, 'ShareVenue', 'cancelOrder', [a.shares, BigInt(o.orderId)]);
              }) }, 'Cancel'), status));
          })))
          : h('p', { class: 'muted' }, connected ? 'No resting order.' : 'Connect a wallet to see your orders.'),
        proceedsLine(venue)),
      h('section', { class: 'panel wide', 'data-testid': 'last-trades' }, h('h2', {}, 'Last trades'),
        trades.length ? h('table', { class: 'grid small' },
          h('thead', {}, h('tr', {}, ['When', 'Taker', 'Price', 'Shares', 'Value'].map((t) => h('th', {}, t)))),
          h('tbody', {}, trades.slice(0, 30).map((t) => h('tr', {},
            h('td', {}, date(t.timestamp)), h('td', {}, t.side === SELL ? 'bought' : 'sold'),
            h('td', { class: 'num' }, cash(BigInt(t.pricePerShare))), h('td', { class: 'num' }, sharesText(BigInt(t.amount))),
            h('td', { class: 'num' }, cash(BigInt(t.value)))))))
          : h('p', { class: 'muted' }, 'No trade yet.')),
      await listingsPanel(listings)));
  ready('trade');
}

function proceedsLine(venue) {
  const p = state.portfolio;
  if (!p) return null;
  const status = actionBox('withdraw-proceeds');
  return h('div', {}, h('button', { class: 'btn', 'data-testid': 'withdraw-proceeds', onclick: () => act(status, async () => {
    const owed = await read(venue, 'ShareVenue', 'proceedsOf', [state.wallet.account]);
    if (owed === 0n) throw new Error('No proceeds to withdraw.');
    await send(venue, 'ShareVenue', 'withdrawProceeds', []);
  }) }, 'Withdraw sale proceeds'), status);
}

/** Buy or sell now against the book: the ids are chosen here, best price first, within the limit. */
function takePanel(a, asks, bids) {
  const [sl, sharesIn] = field('Shares', { 'data-testid': 'take-shares', placeholder: '1' });
  const [pl, limitIn] = field(`Limit price (${state.token.symbol})`, { 'data-testid': 'take-limit', placeholder: asks[0] ? units(asks[0].price, state.token.decimals) : '' });
  const preview = h('div', { class: 'preview', 'data-testid': 'take-preview' });
  const status = actionBox('take');
  const plan = (side) => {
    const n = parseUnits(sharesIn.value || '0', 18, 'shares');
    const limit = parseUnits(limitIn.value || '0', state.token.decimals, 'limit price');
    const list = side === BUY ? asks.filter((o) => o.price <= limit) : bids.filter((o) => o.price >= limit);
    const mineOnly = (o) => !state.wallet.account || o.maker.toLowerCase() !== state.wallet.account.toLowerCase();
    let left = n; let value = 0n; const ids = [];
    for (const o of list.filter(mineOnly)) {
      if (left === 0n) break;
      const take = o.left < left ? o.left : left;
      value += orderValue(o.left, take, o.price); left -= take; ids.push(BigInt(o.orderId));
    }
    return { n, limit, ids, filled: n - left, value };
  };
  const update = () => {
    try {
      const b = plan(BUY); const s = plan(SELL);
      mount(preview, `Buy now: ${sharesText(b.filled)} shares for ${cash(b.value)}. Sell now: ${sharesText(s.filled)} shares for ${cash(s.value)}.`);
    } catch (err) { mount(preview, err.message); }
  };
  sharesIn.addEventListener('input', update); limitIn.addEventListener('input', update);
  const go = (side) => act(status, async () => {
    const q = plan(side);
    if (q.n === 0n) throw new Error('Enter how many shares.');
    if (!q.ids.length) throw new Error(side === BUY ? 'No ask at or below your limit price.' : 'No bid at or above your limit price.');
    const venue = addr('ShareVenue');
    if (side === BUY) {
      if (q.value > state.portfolio.cash) throw new Error(`Insufficient balance: you have ${cash(state.portfolio.cash)}, this costs ${cash(q.value)}. Nothing was sent.`);
      const permit = await signPermit(addr('SettlementToken'), 'SettlementToken', venue, q.value);
      await send(venue, 'ShareVenue', 'buyWithPermit', [a.shares, q.ids, q.limit, q.n, q.value,
        { value: q.value, deadline: permit.deadline, v: permit.v, r: permit.r, s: permit.s }]);
    } else {
      const permit = await signPermit(a.shares, 'AssetShares', venue, q.filled);
      await send(venue, 'ShareVenue', 'sellWithPermit', [a.shares, q.ids, q.limit, q.filled,
        { value: q.filled, deadline: permit.deadline, v: permit.v, r: permit.r, s: permit.s }]);
    }
  }, { needsKyc: true });
  return h('section', { class: 'panel', 'data-testid': 'take-panel' }, h('h2', {}, 'Buy or sell now'),
    sl, pl, preview,
    h('button', { class: 'btn primary', 'data-testid': 'take-buy', onclick: () => go(BUY) }, 'Buy with permit'), ' ',
    h('button', { class: 'btn', 'data-testid': 'take-sell', onclick: () => go(SELL) }, 'Sell with permit'), status);
}

/** A resting limit order, escrowed with one permit signature and one transaction. */
function placePanel(a) {
  const side = h('select', { 'data-testid': 'place-side' }, h('option', { value: String(SELL) }, 'Sell (ask)'), h('option', { value: String(BUY) }, 'Buy (bid)'));
  const [sl, sharesIn] = field('Shares', { 'data-testid': 'place-shares', placeholder: '10' });
  const [pl, priceIn] = field(`Price per share (${state.token.symbol})`, { 'data-testid': 'place-price', placeholder: '100' });
  const [dl, daysIn] = field('Good for (days)', { 'data-testid': 'place-days', value: '7', size: 4 });
  const status = actionBox('place');
  const button = h('button', { class: 'btn primary', 'data-testid': 'place-button', onclick: () => act(status, async () => {
    const s = Number(side.value);
    const amount = parseUnits(sharesIn.value, 18, 'shares');
    const price = parseUnits(priceIn.value, state.token.decimals, 'price');
    if (amount === 0n || price === 0n) throw new Error('Enter a number of shares and a price.');
    const block = await state.wallet.public.getBlock();
    const expiresAt = block.timestamp + BigInt(Math.max(1, Number(daysIn.value) || 1)) * DAY;
    const venue = addr('ShareVenue');
    const [token, abiName, escrow] = s === BUY ? [addr('SettlementToken'), 'SettlementToken', valueUp(amount, price)] : [a.shares, 'AssetShares', amount];
    const permit = await signPermit(token, abiName, venue, escrow);
    await send(venue, 'ShareVenue', 'placeOrderWithPermit', [a.shares, s, price, amount, expiresAt, escrow, permit.deadline, permit.v, permit.r, permit.s]);
  }, { needsKyc: true }) }, 'Place order with permit');
  return h('section', { class: 'panel', 'data-testid': 'place-panel' }, h('h2', {}, 'Place a limit order'),
    h('label', {}, 'Side ', side), sl, pl, dl, button, status);
}

/** Lease positions for sale: the chain says which are still buyable (a transfer or the lease's end cancels). */
async function listingsPanel(listings) {
  const listingsAddr = addr('LeaseListings');
  const connected = state.wallet.account && state.wallet.onRightChain;
  const buyable = connected
    ? await Promise.all(listings.map((l) => read(listingsAddr, 'LeaseListings', 'isBuyable', [BigInt(l.leaseId)])))
    : listings.map(() => true);
  const open = listings.filter((_, i) => buyable[i]);
  return h('section', { class: 'panel wide', 'data-testid': 'lease-listings' }, h('h2', {}, 'Lease positions for sale'),
    h('p', { class: 'muted small' }, 'A position carries its remaining prepaid escrow, its future refunds and SLA credits, and the right to name its GPU user.'),
    open.length ? h('table', { class: 'grid small' },
      h('thead', {}, h('tr', {}, ['Lease', 'Seller', 'Price', 'Until', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, open.map((l) => {
        const status = actionBox(`listing-${l.leaseId}`);
        return h('tr', {}, h('td', {}, `#${l.leaseId}`), h('td', { class: 'mono' }, shortAddr(l.seller)),
          h('td', { class: 'num' }, cash(BigInt(l.price))), h('td', {}, date(l.expiresAt)),
          h('td', {}, h('button', { class: 'btn', 'data-testid': `buy-listing-${l.leaseId}`, onclick: () => act(status, async () => {
            const price = BigInt(l.price);
            if (state.portfolio && price > state.portfolio.cash) throw new Error(`Insufficient balance for ${cash(price)}. Nothing was sent.`);
            await ensureAllowance(addr('SettlementToken'), 'SettlementToken', listingsAddr, price);
            await send(listingsAddr, 'LeaseListings', 'buy', [BigInt(l.leaseId), price]);
          }) }, 'Buy'), status));
      })))
      : h('p', { class: 'muted' }, 'No lease position is for sale.'));
}

// ------------------------------------------------------------------------------------------------ actions

function errorContext() {
  return { abi: state.errorAbi, decimals: state.token?.decimals ?? 6, symbol: state.token?.symbol ?? '' };
}

/**
 * Runs one user action with its status line: refusal checks first (nothing is sent), then the wallet.
 * `<body data-last-action="<status testid>:<pending|done|failed|refused>">` tells tests (and assistive
 * tooling) where the last action stands, after the page has re-rendered with the new state.
 */
async function act(status, fn, { needsKyc = false } = {}) {
  const id = status.dataset.testid;
  const settle = (st, node) => {
    const target = document.querySelector(`[data-testid="${id}"]`) || status;
    target.dataset.state = st;
    mount(target, node);
    document.body.dataset.lastAction = `${id}:${st}`;
  };
  const refused = refusal({ needsKyc });
  if (refused) { settle('refused', h('span', { class: 'bad', 'data-testid': 'refused' }, refused)); return; }
  document.body.dataset.lastAction = `${id}:pending`;
  status.dataset.state = 'pending';
  mount(status, 'Waiting for your wallet…');
  try {
    await fn((text) => mount(status, text));
  } catch (err) {
    const own = err instanceof Error && !err.shortMessage && !('code' in err) && !err.cause;
    settle('failed', h('span', { class: 'bad', 'data-testid': 'error' }, own ? err.message : explain(err, errorContext())));
    return;
  }
  await loadAssets(true).catch(() => {});
  await route();
  settle('done', h('span', { class: 'ok' }, 'Confirmed.'));
}

async function send(address, abiName, functionName, args) {
  const w = state.wallet;
  const call = { address, abi: [...abi(abiName), ...state.errorAbi], functionName, args, account: w.account };
  const { request } = await w.public.simulateContract(call);
  // An estimate runs at the last block's time; the transaction lands in a later block, where time-weighted state
  // (the share venue's cumulative price) costs a storage write more. A quarter more covers it; unused gas is not paid.
  const estimate = await w.public.estimateContractGas(call);
  const hash = await w.wallet.writeContract({ ...request, abi: abi(abiName), chain: null, gas: estimate + estimate / 4n });
  const status = document.querySelector('.status[data-state="pending"]');
  if (status) mount(status, `Sent ${hash.slice(0, 10)}…, waiting for confirmation`);
  const receipt = await w.public.waitForTransactionReceipt({ hash, pollingInterval: 200 });
  if (receipt.status !== 'success') throw new Error(`Transaction ${hash} reverted.`);
  return receipt;
}

async function ensureAllowance(token, abiName, spender, amount) {
  const allowance = await read(token, abiName, 'allowance', [state.wallet.account, spender]);
  if (allowance < amount) await send(token, abiName, 'approve', [spender, amount]);
}

/** An EIP-2612 permit of `value` to `spender`, signed in the wallet (eth_signTypedData_v4). */
async function signPermit(token, abiName, spender, value) {
  const w = state.wallet;
  const [domain, nonce, block] = await Promise.all([
    read(token, abiName, 'eip712Domain'),
    read(token, abiName, 'nonces', [w.account]),
    w.public.getBlock(),
  ]);
  const deadline = block.timestamp + 3600n;
  const signature = await w.wallet.signTypedData({
    account: w.account,
    domain: { name: domain[1], version: domain[2], chainId: Number(domain[3]), verifyingContract: domain[4] },
    types: { Permit: [
      { name: 'owner', type: 'address' }, { name: 'spender', type: 'address' }, { name: 'value', type: 'uint256' },
      { name: 'nonce', type: 'uint256' }, { name: 'deadline', type: 'uint256' }] },
    primaryType: 'Permit',
    message: { owner: w.account, spender, value, nonce, deadline },
  });
  const { r, s, v, yParity } = parseSignature(signature);
  return { deadline, r, s, v: Number(v ?? BigInt(yParity + 27)) };
}

// ------------------------------------------------------------------------------------------------ start

async function start() {
  const [config, status] = await Promise.all([api('/api/config'), api('/api/status')]);
  state.config = config;
  state.token = status.token;
  state.epochLength = status.epochLength;
  // Every custom error of the suite, once, so that a revert bubbling up from another contract (the
  // stablecoin inside a subscribe) is still decoded into words.
  const seen = new Set();
  for (const list of Object.values(config.abis)) {
    for (const item of list) {
      if (item.type !== 'error') continue;
      const key = `${item.name}(${(item.inputs || []).map((i) => i.type).join(',')})`;
      if (!seen.has(key)) { seen.add(key); state.errorAbi.push(item); }
    }
  }
  state.wallet = new Wallet(config, () => route());
  await state.wallet.restore();
  window.addEventListener('hashchange', route);
  await route();
}

start();
