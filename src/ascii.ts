/**
 * The bytes the framers, parsers and scanners compare against, by name: one set for the house
 * (framing/, parsing/, relp/, verify/). US-ASCII code points (RFC 20), which UTF-8 keeps as single bytes.
 */
export const NUL = 0x00;
export const TAB = 0x09;
export const LF = 0x0a;
export const CR = 0x0d;
export const SP = 0x20;
export const QUOTE = 0x22;
export const COMMA = 0x2c;
export const DASH = 0x2d;
export const DIGIT_0 = 0x30;
export const DIGIT_9 = 0x39;
export const COLON = 0x3a;
export const LT = 0x3c;
export const EQ = 0x3d;
export const GT = 0x3e;
export const LBRACKET = 0x5b;
export const BACKSLASH = 0x5c;
export const RBRACKET = 0x5d;
export const LBRACE = 0x7b;
export const RBRACE = 0x7d;
