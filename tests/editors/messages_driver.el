;;; messages_driver.el --- Emacs (batch) with editor-configs/emacs/opencode-eglot.el as shipped -*- lexical-binding: t; -*-

;; Loaded after opencode-eglot.el, whose settings stay as shipped.  Opens EDITOR_TEST_FILE,
;; M-x eglot, waits for the bridge to connect, prints *Messages*, then (the control) pushes a
;; bad setting and prints *Messages* again once the bridge's warning is in it.

(defun test-say (format-string &rest args)
  (princ (concat "TEST: " (apply #'format format-string args) "\n") #'external-debugging-output))

(defun test-messages ()
  (with-current-buffer (messages-buffer)
    (princ (concat (buffer-string) "\n") #'external-debugging-output)))

(defun test-wait (what predicate timeout)
  (let ((deadline (+ (float-time) timeout)))
    (while (not (funcall predicate))
      (when (> (float-time) deadline)
        (test-say "timed out waiting for %s" what)
        (test-messages)
        (kill-emacs 1))
      (accept-process-output nil 0.1))))

(find-file (getenv "EDITOR_TEST_FILE"))
(call-interactively #'eglot)
(test-wait "the bridge to connect"
           (lambda ()
             (let ((message (plist-get opencode-eglot-status :message)))
               (and (stringp message) (string-prefix-p "OpenCode 1." message))))
           90)
(test-say "connected")
(test-messages)
(test-say "control")
(jsonrpc-notify (eglot-current-server) :workspace/didChangeConfiguration
                '(:settings (:model "nonsense")))
(test-wait "the control's warning"
           (lambda ()
             (with-current-buffer (messages-buffer)
               (save-excursion
                 (goto-char (point-min))
                 (search-forward "provider/model" nil t))))
           30)
(test-messages)
(kill-emacs 0)
