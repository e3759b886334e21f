;;; opencode-lsp-mode.el --- opencode-lsp with lsp-mode -*- lexical-binding: t; -*-

;; lsp-mode (M-x package-install RET lsp-mode, or Debian: apt install elpa-lsp-mode) runs
;; opencode-lsp as an add-on server: beside your usual language server, in any mode.
;; Load this file from your init file:
;;
;;   (load "/path/to/opencode-lsp-mode.el")
;;   (global-set-key (kbd "C-c o") opencode-lsp-mode-command-map)
;;
;; then M-x lsp in a project file.  Every setting: docs/configuration.md.

;;; Code:

(require 'cl-lib)
(require 'subr-x)
(require 'lsp-mode)

(defgroup opencode-lsp-mode nil
  "Drive an OpenCode agent through opencode-lsp and lsp-mode."
  :group 'tools
  :prefix "opencode-lsp-mode-")

(defcustom opencode-lsp-mode-program '("opencode-lsp")
  "How to start opencode-lsp: the program and its arguments."
  :type '(repeat string))

(defcustom opencode-lsp-mode-initialization-options nil
  "The bridge's settings, sent as initializationOptions: a plist with camelCase keys,
e.g. (:model \"anthropic/claude-sonnet-4-5\").  As lsp-mode sends it: nil is JSON
null, :json-false is false, a vector is a list."
  :type 'plist)

(defvar opencode-lsp-mode-status nil
  "The last opencode/status notification: a plist (:state :message :sessionID).")

(defvar opencode-lsp-mode-answers nil
  "Every whole answer of this Emacs session, the last one first.")

(defun opencode-lsp-mode--on-status (_workspace params)
  "Keep the opencode/status PARAMS for the mode line."
  (setq opencode-lsp-mode-status
        (list :state (gethash "state" params)
              :message (gethash "message" params)
              :sessionID (gethash "sessionID" params)))
  (force-mode-line-update t))

(defun opencode-lsp-mode--on-log-message (_workspace params)
  "opencode-lsp logs each whole answer (type 3); keep it."
  (when (eql (gethash "type" params) 3)
    (push (gethash "message" params) opencode-lsp-mode-answers)))

(lsp-register-client
 (make-lsp-client
  :new-connection (lsp-stdio-connection (lambda () opencode-lsp-mode-program))
  :activation-fn (lambda (_file-name _mode) t) ; any file of a project
  :add-on? t                                   ; beside the mode's own server
  :server-id 'opencode-lsp
  :priority -2
  :initialization-options (lambda () (or opencode-lsp-mode-initialization-options
                                         (make-hash-table)))
  :notification-handlers
  (let ((handlers (make-hash-table :test #'equal)))
    (puthash "opencode/status" #'opencode-lsp-mode--on-status handlers)
    (puthash "window/logMessage" #'opencode-lsp-mode--on-log-message handlers)
    handlers)))

(defun opencode-lsp-mode--workspace ()
  "The opencode-lsp workspace of this buffer, or an error the user can act on."
  (or (cl-find 'opencode-lsp (lsp-workspaces)
               :key (lambda (workspace) (lsp--client-server-id (lsp--workspace-client workspace))))
      (user-error "opencode-lsp is not running here: M-x lsp in a project file")))

(defun opencode-lsp-mode-commands ()
  "The commands the server offers (its executeCommandProvider), as a list of strings."
  (let* ((capabilities (lsp--workspace-server-capabilities (opencode-lsp-mode--workspace)))
         (provider (lsp-get capabilities :executeCommandProvider)))
    (append (and provider (lsp-get provider :commands)) nil)))

(defun opencode-lsp-mode-execute (command &optional arguments)
  "Run the workspace COMMAND with ARGUMENTS (a vector) on opencode-lsp; return its result."
  (unless (member command (opencode-lsp-mode-commands))
    (user-error "This opencode-lsp does not offer %s" command))
  (with-lsp-workspace (opencode-lsp-mode--workspace)
    (lsp-request "workspace/executeCommand"
                 (append (list :command command) (and arguments (list :arguments arguments))))))

(defun opencode-lsp-mode-ask (prompt)
  "Ask OpenCode PROMPT; with an active region, about its lines."
  (interactive
   (list (read-string (if (use-region-p) "OpenCode (about the region): " "OpenCode: "))))
  (when (string-empty-p (string-trim prompt))
    (user-error "Nothing to ask"))
  (let ((arguments (list :prompt prompt)))
    (when (use-region-p)
      (setq arguments (append arguments
                              (list :uri (lsp--buffer-uri)
                                    :range (lsp--region-to-range (region-beginning)
                                                                 (region-end)))))
      (deactivate-mark))
    (opencode-lsp-mode-execute "opencode.ask" (vector arguments))
    (message "OpenCode: asked; the answer comes as a message (whole: M-x opencode-lsp-mode-show-answer)")))

(defun opencode-lsp-mode-code-actions ()
  "The OpenCode code actions (Explain, Review, …) on the region."
  (interactive)
  (lsp-execute-code-action-by-kind "refactor.opencode"))

(defun opencode-lsp-mode-show-answer ()
  "Show the whole last answer (the message shows only its start)."
  (interactive)
  (unless opencode-lsp-mode-answers
    (user-error "No answer from OpenCode yet"))
  (with-current-buffer (get-buffer-create "*OpenCode answer*")
    (let ((inhibit-read-only t))
      (erase-buffer)
      (insert (car opencode-lsp-mode-answers)))
    (goto-char (point-min))
    (special-mode)
    (display-buffer (current-buffer))))

(defun opencode-lsp-mode-mode-line ()
  "The mode-line text: \"OpenCode: busy\" and the status message, or nil."
  (when-let ((state (plist-get opencode-lsp-mode-status :state)))
    (let ((message (plist-get opencode-lsp-mode-status :message)))
      (truncate-string-to-width
       (concat " OpenCode: " state (if (stringp message) (concat " · " message) ""))
       60 nil nil "…"))))

(add-to-list 'global-mode-string '(:eval (opencode-lsp-mode-mode-line)) t)

(defvar opencode-lsp-mode-command-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "a") #'opencode-lsp-mode-ask)
    (define-key map (kbd "o") #'opencode-lsp-mode-code-actions)
    (define-key map (kbd "r") #'opencode-lsp-mode-show-answer)
    map)
  "Keys for opencode-lsp; bind it to a prefix, e.g. C-c o.")

(load (expand-file-name "opencode-selection" (file-name-directory (or load-file-name buffer-file-name))) nil t) ; the region as the TUI's context
(provide 'opencode-lsp-mode)
;;; opencode-lsp-mode.el ends here
