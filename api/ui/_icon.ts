/**
 * The dashboard's icon, a kiln's arch with a flame, as SVG (served at `/ui/icon.svg`, also the favicon, so
 * a browser does not ask for `/favicon.ico`, which needs a token).
 *
 * @module
 */

/** The icon, 32×32. */
export const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<rect width="32" height="32" rx="6" fill="#2b2f36"/>
<path d="M6 27V15a10 10 0 0 1 20 0v12z" fill="#8a5a44"/>
<path d="M10 27v-9a6 6 0 0 1 12 0v9z" fill="#1b1d21"/>
<path d="M16 26c-3 0-4-2-4-4 0-3 3-4 3-7 2 1 5 4 5 7 0 2-1 4-4 4z" fill="#f39c2b"/>
<path d="M16 26c-1.5 0-2-1-2-2 0-1.5 1.5-2 1.5-3.5 1 .5 2.5 2 2.5 3.5 0 1-.5 2-2 2z" fill="#ffd86b"/>
</svg>
`;
