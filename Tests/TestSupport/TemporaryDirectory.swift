import Foundation

/// A directory created fresh under `NSTemporaryDirectory()`. It is a value: nothing removes it implicitly, so call
/// `remove()` (typically in a `defer`) when done.
public struct TemporaryDirectory: Sendable {
    /// The directory's file URL.
    public let url: URL

    /// The directory's absolute path.
    public var path: String { url.path }

    /// Creates a new, empty directory named `<prefix>-<random>`; never reuses an existing one.
    public init(prefix: String = "berth") throws {
        let base = URL(fileURLWithPath: NSTemporaryDirectory(), isDirectory: true)
        for _ in 0..<10 {
            // Short names keep unix-socket paths inside them well under the 104-byte sun_path limit.
            let name = "\(prefix)-\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased())"
            let candidate = base.appendingPathComponent(name, isDirectory: true)
            do {
                try FileManager.default.createDirectory(at: candidate, withIntermediateDirectories: false)
                url = candidate
                return
            } catch CocoaError.fileWriteFileExists {
                continue
            }
        }
        throw TestSupportError("cannot create a temporary directory under \(base.path)")
    }

    /// The URL of `name` inside the directory (nothing is created).
    public func appending(_ name: String) -> URL {
        url.appendingPathComponent(name)
    }

    /// Deletes the directory and everything in it; harmless if it is already gone.
    public func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}
