// Custom errors and wallet errors into words a person understands. The contracts' errors carry the
// offending values; each message uses them.
import { BaseError, ContractFunctionRevertedError, UserRejectedRequestError, decodeErrorResult } from 'viem';
import { date, units, shortAddr, LEASE_STATUSES } from './format.js';

const usd = (v, ctx) => `${units(v, ctx.decimals)} ${ctx.symbol}`;
const shares = (v) => `${units(v, 18)} shares`;

const WORDS = {
  TransferNotAllowed: (a, ctx) => ctx.kycWords || `${shortAddr(a[1])} may not hold shares: the investor registry does not list it as verified`,
  InvestorNotVerified: (a) => `${shortAddr(a[0])} is not a verified investor`,
  OfferingNotOpen: (a) => `offering round ${a[0]} is not open`,
  OfferingEnded: (a) => `offering round ${a[0]} closed on ${date(a[1])}`,
  ExceedsOfferingCap: (a) => `only ${shares(a[2])} are left in round ${a[0]} (you asked for ${shares(a[1])})`,
  CostAboveMaximum: (a, ctx) => `the cost rose to ${usd(a[0], ctx)}, above your maximum of ${usd(a[1], ctx)}`,
  AssetNotActive: (a) => `asset ${a[0]} is not active`,
  NothingToClaim: () => 'there is nothing to claim yet',
  ZeroAmount: () => 'the amount must be more than zero',
  ERC20InsufficientBalance: (a, ctx) => `insufficient balance: you have ${usd(a[1], ctx)}, this needs ${usd(a[2], ctx)}`,
  ERC20InsufficientAllowance: (a, ctx) => `the allowance (${usd(a[1], ctx)}) is below ${usd(a[2], ctx)}: the permit was not accepted`,
  ERC2612ExpiredSignature: (a) => `the signature expired at ${date(a[0])}`,
  ERC2612InvalidSigner: () => 'the permit was signed by another account',
  InsufficientCollateral: (a, ctx) => `this would leave a debt of ${usd(a[1], ctx)} against a borrowing limit of ${usd(a[2], ctx)}: your health factor would fall too low`,
  InsufficientLiquidity: (a, ctx) => `the market can lend only ${usd(a[1], ctx)} now (you asked for ${usd(a[0], ctx)})`,
  BorrowingFrozen: (a) => `borrowing is frozen for asset ${a[0]}: the meter has been silent or the asset is suspended, so its shares cannot be valued`,
  ExceedsCollateral: (a) => `you have ${shares(a[2])} posted, not ${shares(a[1])}`,
  ExceedsDebt: () => 'this repays more than you owe',
  InsufficientCapacity: (a) => `offer ${a[0]} has ${a[2]} GPUs free, not ${a[1]}`,
  TermOutOfRange: (a) => `offer ${a[0]} leases for ${a[2]} to ${a[3]} epochs, not ${a[1]}`,
  PriceAboveMaximum: (a, ctx) => `the offer's price moved to ${usd(a[1], ctx)} per GPU-hour, above your ${usd(a[2], ctx)}`,
  OfferNotActive: (a) => `offer ${a[0]} is paused`,
  LeaseNotActive: (a) => `lease ${a[0]} is ${LEASE_STATUSES[Number(a[1])] || 'not active'}`,
  LeaseEnded: (a) => `lease ${a[0]} ended at epoch ${a[1]}`,
  NotLessee: (a) => `${shortAddr(a[1])} does not own lease ${a[0]}`,
  SettlementLagging: (a) => `asset ${a[0]} is not settled up to date (next epoch to settle ${a[1]}, now ${a[2]}): try again after the keeper settles`,
  ERC20InsufficientBalanceShares: () => 'insufficient shares',
  ERC4626ExceededMaxWithdraw: (a, ctx) => `you can withdraw at most ${usd(a[2], ctx)} now`,
  ERC4626ExceededMaxRedeem: () => 'you cannot redeem that many shares now',
};

/** Words for an error thrown by viem or the wallet; `ctx` carries {abi, decimals, symbol, kycWords}. */
export function explain(err, ctx) {
  const code = err?.code ?? err?.cause?.code ?? findCode(err);
  if (code === 4001 || err instanceof UserRejectedRequestError) return 'You rejected the request in your wallet: nothing was sent.';
  if (code === 4902) return 'Your wallet does not know this chain yet.';
  if (err instanceof BaseError) {
    const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError);
    if (reverted?.data?.errorName) return sentence(reverted.data.errorName, reverted.data.args || [], ctx);
    const raw = findData(err);
    if (raw && ctx.abi) {
      try {
        const decoded = decodeErrorResult({ abi: ctx.abi, data: raw });
        return sentence(decoded.errorName, decoded.args || [], ctx);
      } catch { /* not one of the suite's errors: fall through to the wallet's own message */ }
    }
    return err.shortMessage || err.message;
  }
  return err?.message || String(err);
}

function sentence(name, args, ctx) {
  const words = WORDS[name];
  const text = words ? words(args, ctx) : `${name}(${args.map(String).join(', ')})`;
  return text.charAt(0).toUpperCase() + text.slice(1) + '.';
}

function findCode(err) {
  for (let e = err; e; e = e.cause) if (typeof e.code === 'number') return e.code;
  return undefined;
}

function findData(err) {
  for (let e = err; e; e = e.cause) {
    if (typeof e.data === 'string' && e.data.startsWith('0x')) return e.data;
    if (typeof e.data?.data === 'string') return e.data.data;
  }
  return undefined;
}
