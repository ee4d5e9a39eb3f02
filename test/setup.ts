// Loaded by mocha before every spec (see .mocharc.json).
import 'reflect-metadata';
