import CHiredis

/// The arguments of one command laid out for hiredis's argv functions: one contiguous byte buffer, so a command of
/// 20,000 arguments or a 10 MB value costs one copy and no per-argument allocation.
struct ArgumentVector {
    private var storage: [UInt8] = []
    private var offsets: [Int] = []
    private var lengths: [Int] = []

    init<S: Sequence>(strings: S) where S.Element: StringProtocol {
        for argument in strings { append(argument.utf8) }
        storage.append(0) // never empty, so the base address exists even when every argument is empty
    }

    init<S: Sequence>(bytes: S) where S.Element: Collection, S.Element.Element == UInt8 {
        for argument in bytes { append(argument) }
        storage.append(0)
    }

    var count: Int { offsets.count }

    private mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        offsets.append(storage.count)
        let before = storage.count
        storage.append(contentsOf: bytes)
        lengths.append(storage.count - before)
    }

    /// Calls `body` with argc, argv and argvlen valid for the duration of the call.
    func withCArguments<R>(
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) throws -> R
    ) rethrows -> R {
        try storage.withUnsafeBufferPointer { buffer in
            let base = UnsafeRawPointer(buffer.baseAddress!)
            var pointers: [UnsafePointer<CChar>?] = offsets.map {
                base.advanced(by: $0).assumingMemoryBound(to: CChar.self)
            }
            return try pointers.withUnsafeMutableBufferPointer { argv in
                try lengths.withUnsafeBufferPointer { argvlen in
                    try body(Int32(offsets.count), argv.baseAddress!, argvlen.baseAddress!)
                }
            }
        }
    }
}
