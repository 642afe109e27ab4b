/** The echo backend's handler: route `echo.echoHandler.echo` answers with the message itself. */
class EchoHandler {
  constructor(app) {
    this.app = app;
  }

  /**
   * Pinus calls it with the request body and the backend session; the promise's value is the
   * response (Pinus awaits a returned promise, as from an `async` handler).
   */
  echo(msg) {
    return Promise.resolve(msg);
  }
}

module.exports.default = function (app) {
  return new EchoHandler(app);
};
