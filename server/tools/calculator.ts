/**
 * A safe arithmetic evaluator (recursive descent, never `eval`):
 * numbers, `+ - * / % ^`, parentheses, unary minus.
 * @module
 */

/** The expression cannot be evaluated; the message says why. */
export class CalculatorError extends Error {
  /** Creates a calculator error. */
  constructor(message: string) {
    super(message);
    this.name = "CalculatorError";
  }
}

const MAX_EXPRESSION = 200;
const TOKEN = /\s*(\d+(?:\.\d+)?|\.\d+|[-+*/%^()])/y;

function tokenize(expression: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  let at = 0;
  while (at < expression.length) {
    if (/^\s*$/.test(expression.slice(at))) break;
    TOKEN.lastIndex = at;
    const match = TOKEN.exec(expression);
    if (!match) {
      throw new CalculatorError(
        `Cannot calculate: unexpected character ${
          JSON.stringify(expression.trimStart()[0] ?? "")
        } at position ${at + 1}`,
      );
    }
    tokens.push(match[1]);
    at = TOKEN.lastIndex;
  }
  return tokens;
}

/**
 * Evaluates an arithmetic expression.
 * @throws {CalculatorError} on bad syntax, division by zero or a non-finite result.
 */
export function calculate(expression: string): number {
  if (expression.length > MAX_EXPRESSION) {
    throw new CalculatorError(
      `Cannot calculate: expression longer than ${MAX_EXPRESSION} characters`,
    );
  }
  const tokens = tokenize(expression);
  if (tokens.length === 0) {
    throw new CalculatorError("Cannot calculate: empty expression");
  }
  let pos = 0;
  let depth = 0;
  const peek = () => tokens[pos];
  const next = () => tokens[pos++];

  const primary = (): number => {
    const token = next();
    if (token === undefined) {
      throw new CalculatorError("Cannot calculate: expression ends too early");
    }
    if (token === "(") {
      if (++depth > 50) {
        throw new CalculatorError(
          "Cannot calculate: too many nested parentheses",
        );
      }
      const value = sum();
      if (next() !== ")") {
        throw new CalculatorError('Cannot calculate: missing ")"');
      }
      depth--;
      return value;
    }
    if (token === "-") return -unary();
    if (token === "+") return unary();
    const value = Number(token);
    if (Number.isNaN(value)) {
      throw new CalculatorError(
        `Cannot calculate: unexpected ${JSON.stringify(token)}`,
      );
    }
    return value;
  };
  const unary = (): number => primary();
  const power = (): number => {
    const base = unary();
    if (peek() === "^") {
      next();
      return base ** power();
    }
    return base;
  };
  const product = (): number => {
    let value = power();
    while (peek() === "*" || peek() === "/" || peek() === "%") {
      const op = next();
      const right = power();
      if ((op === "/" || op === "%") && right === 0) {
        throw new CalculatorError("Cannot calculate: division by zero");
      }
      value = op === "*" ? value * right : op === "/" ? value / right : value % right;
    }
    return value;
  };
  const sum = (): number => {
    let value = product();
    while (peek() === "+" || peek() === "-") {
      const op = next();
      const right = product();
      value = op === "+" ? value + right : value - right;
    }
    return value;
  };

  const result = sum();
  if (pos < tokens.length) {
    throw new CalculatorError(
      `Cannot calculate: unexpected ${JSON.stringify(tokens[pos])}`,
    );
  }
  if (!Number.isFinite(result)) {
    throw new CalculatorError(
      "Cannot calculate: the result is not a finite number",
    );
  }
  return result;
}

/** Finds an arithmetic expression inside a question, e.g. "what is 2+3*4?". */
export function findExpression(text: string): string | undefined {
  const candidates = text.match(/[-+*/%^().\d\s]+/g) ?? [];
  let best: string | undefined;
  for (const raw of candidates) {
    const candidate = raw.trim();
    if (/\d/.test(candidate) && /\d\s*[-+*/%^]\s*[-(.\d]/.test(candidate)) {
      if (!best || candidate.length > best.length) best = candidate;
    }
  }
  return best;
}
