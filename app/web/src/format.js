// Amounts are bigint end to end; they become text only here, with their token's decimals.

export const WAD = 10n ** 18n;
export const BPS = 10_000n;
export const MAX_UINT = 2n ** 256n - 1n;

/** Base units -> "1,234.56" (rounded down to `shown` decimals). */
export function units(value, decimals, shown = 2) {
  const v = BigInt(value);
  const negative = v < 0n;
  const abs = negative ? -v : v;
  const scale = 10n ** BigInt(decimals);
  const whole = abs / scale;
  let frac = '';
  if (shown > 0) {
    const f = (abs % scale) * 10n ** BigInt(shown) / scale;
    frac = '.' + f.toString().padStart(shown, '0');
  }
  return (negative ? '-' : '') + whole.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',') + frac;
}

/** "1234.5" -> base units, exactly; throws a readable error on bad input. */
export function parseUnits(text, decimals, what = 'amount') {
  const t = String(text).trim().replace(/,/g, '');
  if (!/^\d+(\.\d+)?$/.test(t)) throw new Error(`${what}: "${text}" is not a positive number`);
  const [whole, frac = ''] = t.split('.');
  if (frac.length > decimals) throw new Error(`${what}: at most ${decimals} decimals`);
  return BigInt(whole) * 10n ** BigInt(decimals) + BigInt((frac + '0'.repeat(decimals)).slice(0, decimals) || '0');
}

export const usd = (v, decimals, shown = 2) => units(v, decimals, shown);
export const bps = (v) => units(BigInt(v), 2, 2) + '%';
export const wadRatio = (v) => (BigInt(v) >= MAX_UINT / 2n ? '∞' : units(BigInt(v), 18, 2));
export const shortAddr = (a) => (a ? a.slice(0, 6) + '…' + a.slice(-4) : '');
export const TIERS = ['Hyperscale', 'NeoCloud', 'Edge'];
export const STATUSES = ['None', 'Active', 'Suspended', 'Retired'];
export const LEASE_STATUSES = ['None', 'Active', 'Terminated', 'Cancelled', 'Closed'];

export function date(seconds) {
  const d = new Date(Number(seconds) * 1000);
  return d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}
