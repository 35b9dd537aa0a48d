/** The cluster page's files, built into the bundle by serverless/esbuild-plugins.cjs. */
declare module 'virtual:cluster-assets' {
  const assets: import('../../shared/web/page.js').WebAssets;
  export default assets;
}
