// Mocha's config. The whole suite runs by default (npm test); naming test files on the command
// line (`npx mocha dist/test/x.test.js`) runs only those, instead of adding them to the suite.
const named = process.argv.slice(2).some((a) => /\.test\.js$/.test(a) || a.startsWith('dist/test/'));
module.exports = {
  ...(named ? {} : { spec: ['dist/test/**/*.test.js'] }),
  timeout: 120000,
  reporter: 'spec',
  require: ['dist/test/setup.js'],
};
