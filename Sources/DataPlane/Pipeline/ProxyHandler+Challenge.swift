import NIOCore
import NIOHTTP1  // HTTPResponseStatus only

/// HTTP-01 challenges (`/.well-known/acme-challenge/<token>`), answered from the challenge store
/// off the event loop on any host and route.
extension ProxyHandler {
    func answerChallenge(token: Substring, context: ChannelHandlerContext, host: String, path: LogPath, keepAlive: Bool) {
        guard ChallengeStore.isValidToken(token), let store = services.challenges else {
            pendingLocal = LocalAnswer(.notFound, "no such challenge\n", close: !keepAlive, route: "acme-challenge", host: host, path: path)
            return
        }
        let tokenText = String(token)
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        services.threadPool.runIfActive(eventLoop: context.eventLoop) { try store.keyAuthorization(token: tokenText) }
            .whenComplete { result in
                let handler = loopBound.value
                let answer: (HTTPResponseStatus, String)
                switch result {
                case .success(let value?): answer = (.ok, value)
                case .success(nil): answer = (.notFound, "no such challenge\n")
                case .failure: answer = (.serviceUnavailable, "challenge store unavailable\n")
                }
                // The request (no body) may or may not have ended yet; answer when it has.
                handler.pendingLocal = LocalAnswer(answer.0, answer.1, close: !keepAlive, route: "acme-challenge", host: host, path: path)
                handler.flushPendingLocalIfEnded()
            }
        challengeAwaitingEnd = true
    }

    func flushPendingLocalIfEnded() {
        // The request's end has normally been read already (no body); the response goes now.
        guard let context, let local = pendingLocal, challengeAwaitingEnd else { return }
        challengeAwaitingEnd = false
        pendingLocal = nil
        respond(context, status: local.status, body: local.body, close: local.close, route: local.route, host: local.host, path: local.path)
    }
}
