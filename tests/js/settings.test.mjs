import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSettings, DEFAULT_SETTINGS, SettingsError, fromSnakeCase } from '../../static/js/settings.js';

test('defaults are the documented ones', () => {
  const s = makeSettings();
  assert.equal(s.fps, 30);
  assert.equal(s.inputDelay, 'auto');
  assert.equal(s.maxPredictionWindow, 8);
  assert.equal(s.inputRedundancy, 5);
  assert.equal(s.disconnectNotifyMs, 750);
  assert.equal(s.disconnectTimeoutMs, 5000);
  assert.equal(s.hashInterval, 1);
  assert.equal(s.disconnectPolicy, 'end');
  assert.equal(s.defaultAction, 0);
  assert.deepEqual({ ...s }, { ...DEFAULT_SETTINGS });
  assert.ok(Object.isFrozen(s));
});

test('overrides are validated; errors name the setting and the allowed range', () => {
  assert.equal(makeSettings({ fps: 60 }).fps, 60);
  const e = (o) => {
    try {
      makeSettings(o);
    } catch (err) {
      assert.ok(err instanceof SettingsError);
      assert.ok(err instanceof RangeError);
      return err;
    }
    assert.fail(`accepted ${JSON.stringify(o)}`);
  };
  let err = e({ fps: 0 });
  assert.equal(err.setting, 'fps');
  assert.match(err.message, /fps must be an integer in \[1, 240\], got 0/);
  err = e({ inputDelay: 2.5 });
  assert.match(err.message, /inputDelay must be 'auto' or an integer in \[0, 16\]/);
  assert.equal(makeSettings({ inputDelay: 'auto' }).inputDelay, 'auto');
  assert.equal(makeSettings({ inputDelay: 0 }).inputDelay, 0);
  assert.match(e({ inputDelay: 'AUTO' }).message, /inputDelay must be 'auto' or an integer/);
  err = e({ maxPredictionWindow: 33 });
  assert.match(err.message, /maxPredictionWindow .*\[0, 32\]/);
  err = e({ disconnectPolicy: 'pause' });
  assert.match(err.message, /disconnectPolicy must be one of "end", "default_action"/);
  err = e({ hashInterval: '1' });
  assert.equal(err.setting, 'hashInterval');
  err = e({ disconnectNotifyMs: 6000 });
  assert.equal(err.setting, 'disconnectTimeoutMs');
  err = e({ bogus: 1 });
  assert.match(err.message, /unknown setting bogus/);
  err = e({ defaultAction: 2 ** 31 });
  assert.equal(err.setting, 'defaultAction');
});

test('nullable limits accept null', () => {
  assert.equal(makeSettings({ maxEpisodes: null }).maxEpisodes, null);
  assert.equal(makeSettings({ maxEpisodes: 3 }).maxEpisodes, 3);
});

test('snake_case names from the scene config map to camelCase', () => {
  assert.deepEqual(fromSnakeCase({ input_delay: 3, max_prediction_window: 4, fps: 60 }), { inputDelay: 3, maxPredictionWindow: 4, fps: 60 });
  assert.equal(makeSettings(fromSnakeCase({ disconnect_policy: 'default_action' })).disconnectPolicy, 'default_action');
});
